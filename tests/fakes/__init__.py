"""Fake network peers for tests: small HTTP servers on 127.0.0.1 that record what they receive."""
