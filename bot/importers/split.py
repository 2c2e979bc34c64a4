"""Split a text too long for one post into thread parts.

Cuts go at sentence boundaries, at word boundaries when one sentence alone
is too long, and inside a word only when a single word is too long. Only
the whitespace at a cut is dropped: joining the parts back with that
whitespace gives the text again, in order, each part within the limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from bot import publishers

_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019\u00bb)\]]*\Z")
# words whose full stop does not end a sentence ("Mr. Sheply", "St. Paul's")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st sr jr capt col gen lt sgt prof rev gov sen rep hon no vs cf ca".split()
)


def split_text(text: str, platform: str) -> list[str]:
    """`text` as one or more posts within the platform's limit (one part when it fits)."""
    limits = publishers.load(platform).limits
    if limits.text is None:
        return [text.strip()]
    return split_to_limit(text, limits.text, limits.count)


def split_to_limit(text: str, cap: int, measure: Callable[[str], int]) -> list[str]:
    """Parts of `text.strip()` with `measure(part) <= cap` each (cap >= 2)."""
    text = text.strip()
    if measure(text) <= cap:
        return [text]
    sentence_cuts, word_cuts = _cuts(text)
    parts = []
    start = 0
    while measure(text[start:]) > cap:
        cut = _last_fitting(text, start, sentence_cuts, cap, measure)
        if cut is None:
            cut = _last_fitting(text, start, word_cuts, cap, measure)
        if cut is None:
            end = _hard_cut(text, start, cap, measure)
            parts.append(text[start:end].rstrip())
            start = len(text) - len(text[end:].lstrip())
        else:
            parts.append(text[start : cut[0]])
            start = cut[1]
    parts.append(text[start:])
    return parts


def _cuts(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Whitespace runs as (start, end): those after a sentence, and all of them."""
    sentences, words = [], []
    word_start = 0
    for run in _SPACE.finditer(text):
        cut = (run.start(), run.end())
        words.append(cut)
        word = text[word_start : run.start()]
        if "\n" in run.group() or _ends_sentence(word):
            sentences.append(cut)
        word_start = run.end()
    return sentences, words


def _ends_sentence(word: str) -> bool:
    if not _SENTENCE_END.search(word):
        return False
    if not word.endswith("."):
        return True
    stem = word.rstrip(".").lower()
    is_initial = len(stem) == 1 and stem.isalpha()  # "W. Coventry"
    return not (is_initial or stem in _ABBREVIATIONS)


def _last_fitting(text, start, cuts, cap, measure):
    """The last cut after `start` whose part fits, by bisection (lengths grow with the cut)."""
    lo = _first_after(cuts, start)
    hi = len(cuts) - 1
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if measure(text[start : cuts[mid][0]]) <= cap:
            best = cuts[mid]
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def _first_after(cuts, start: int) -> int:
    lo, hi = 0, len(cuts)
    while lo < hi:
        mid = (lo + hi) // 2
        if cuts[mid][0] <= start:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _hard_cut(text: str, start: int, cap: int, measure) -> int:
    """The furthest end inside a word that fits; never splits off a combining mark."""
    lo, hi = start + 1, len(text)
    end = start + 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if measure(text[start:mid]) <= cap:
            end = mid
            lo = mid + 1
        else:
            hi = mid - 1
    while end - 1 > start and end < len(text) and unicodedata.combining(text[end]):
        end -= 1
    return end
