"""How many examples a property test tries.

The default run tries a quarter of each test's full count (at least 25), which keeps it
within its time budget; `BOT_TEST_EXAMPLES=full` tries them all (as `bench/reliability.py`
and a release check do). The properties are the same either way, only the sample differs.
"""

from __future__ import annotations

import os

FULL = os.environ.get("BOT_TEST_EXAMPLES", "").strip().lower() == "full"


def examples(full: int) -> int:
    return full if FULL else max(25, full // 4)
