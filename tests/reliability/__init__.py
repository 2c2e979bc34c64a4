"""Reliability suites: crash, fault, bad-input and secrets.

Each suite has an engine module shared with bench/reliability.py (crash.py,
crosscrash.py -- the crash suite over a feed cross-posted to x, mastodon and
bluesky --, faults.py, badrun.py, leaks.py; common.py, networks.py and feeds.py
are their plumbing) and a test module. The default run takes the fast subset
(about a minute); the whole:

    .venv/bin/python -m pytest tests/reliability -m "slow or not slow"
    .venv/bin/python bench/reliability.py        # the same engines, one table of figures

The ledger's disk-full and read-only cases mount a tmpfs, so they need root;
elsewhere they are skipped (and reported as skipped by the bench).
"""
