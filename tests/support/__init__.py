"""Helpers shared by the test suites (importable as `tests.support`).

- `feeds`: feed folders (the base feed.yaml, small feeds, synthetic feeds);
- `env`: clean environments and fake credentials;
- `proc`: `bot` as a subprocess or in process (click), and its log lines;
- `engine`: the service core in process, with a manual clock and a scripted
  publisher subclassing the real `Publisher`;
- `examples`: how many examples a property test tries (a quarter by default).
"""
