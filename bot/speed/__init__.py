"""The performance machinery, behind one door (`bot.load`): the parse cache
(`cache.ParseCache`: post files, the last timeline and its JSON preview, kept
between runs), the worker pool that parses while files are still being read
(`pool`), the plain-value packing both use (`packing`), and the progress bar.
Nothing here changes a result: a run without it gives the same output."""

from bot.speed.cache import ParseCache

__all__ = ["ParseCache"]
