"""Splitting long texts into thread parts: where the cuts go, and that nothing is lost."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.importers.split import split_text, split_to_limit
from bot.publishers import measure as weighted_length
from tests.support.examples import examples


def rejoin_check(text: str, parts: list[str]) -> list[str]:
    """The parts are `text` in order, cut only at whitespace (dropped) or inside words.

    Returns the whitespace dropped at each cut ("" for a cut inside a word).
    """
    text = text.strip()
    pos = 0
    gaps = []
    for index, part in enumerate(parts):
        assert part, "empty part"
        assert part == part.strip(), f"part {index} has whitespace at an end"
        if index:
            start = pos
            while pos < len(text) and text[pos].isspace():
                pos += 1
            gaps.append(text[start:pos])
        assert text.startswith(part, pos), f"part {index} is not the next piece of the text"
        pos += len(part)
    assert pos == len(text), "text left over after the last part"
    return gaps


def x(text: str) -> int:
    return weighted_length(text, "x")


def test_a_text_that_fits_is_one_part_unchanged():
    assert split_text("The Aurora stays.", "x") == ["The Aurora stays."]
    assert split_text("  padded  ", "x") == ["padded"]


def test_no_limit_means_no_split():
    text = "word " * 200
    assert split_text(text, "console") == [text.strip()]


def test_cuts_go_after_sentences_when_they_can():
    sentences = [f"Sentence number {i} tells of the bridges and the guns." for i in range(12)]
    text = " ".join(sentences)
    parts = split_text(text, "x")
    assert len(parts) > 1
    rejoin_check(text, parts)
    for part in parts:
        assert x(part) <= 280
        assert part.endswith("guns."), part
    # greedy: no part could have taken the next sentence too
    for part, following in zip(parts, parts[1:]):
        first_sentence = following.split("guns.")[0] + "guns."
        assert x(part + " " + first_sentence) > 280


def test_a_sentence_too_long_alone_is_cut_between_words():
    text = "Short one. " + " ".join(f"word{i}" for i in range(120)) + ". Done."
    parts = split_text(text, "x")
    rejoin_check(text, parts)
    assert parts[0] == "Short one."  # a sentence boundary first, then words
    assert parts[-1].endswith("word119. Done.")  # the end of the long sentence and the next one
    words = set(text.replace(".", "").split())
    for part in parts:
        assert x(part) <= 280
        assert part.split()[0].strip(".") in words and part.split()[-1].strip(".") in words


def test_a_huge_word_is_cut_hard_as_a_last_resort():
    text = "a" * 700
    assert split_text(text, "x") == ["a" * 280, "a" * 280, "a" * 140]


def test_abbreviations_and_initials_do_not_end_sentences():
    filler = "x" * 20
    text = f"{filler} went out. Then Mr. Sheply and W. Coventry came home. " * 3 + "End."
    parts = split_to_limit(text, 70, len)
    rejoin_check(text, parts)
    assert all(not part.endswith(("Mr.", "W.")) for part in parts), parts


def test_a_line_break_is_a_sentence_boundary():
    text = "first line without a stop\nsecond line goes on and on"
    assert split_to_limit(text, 30, len) == ["first line without a stop", "second line goes on and on"]


def test_urls_count_23_and_cjk_counts_double():
    url = "https://example.com/" + "p" * 200
    text = " ".join([url] * 15)  # 15 * 23 + 14 spaces = 359 weighted, 3000+ characters
    parts = split_text(text, "x")
    assert len(parts) == 2
    rejoin_check(text, parts)
    cjk = "日本語" * 100  # 300 characters, 600 weighted, no spaces
    parts = split_text(cjk, "x")
    assert [len(p) for p in parts] == [140, 140, 20]


def test_a_hard_cut_never_strands_a_combining_mark():
    text = "e\u0301" * 50  # 100 code points
    parts = split_to_limit(text, 7, len)
    rejoin_check(text, parts)
    assert all(not part[0] == "\u0301" for part in parts)
    assert all(len(part) <= 7 for part in parts)


# --- properties ----------------------------------------------------------------

ALPHABET = "ab cd\n.!?…”’\"'日😀\u0301\t"
texts = st.text(alphabet=ALPHABET, max_size=400)
words = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=30), max_size=80)
punct = st.sampled_from([" ", " ", ". ", "! ", "? ", "\n", "  ", "… ", ".” "])


def weighted(text: str) -> int:
    return sum(1 if ord(ch) < 0x1100 else 2 for ch in text)


@given(texts, st.integers(min_value=2, max_value=60))
@settings(max_examples=examples(300), deadline=None)
def test_property_split_keeps_every_character_in_order_within_the_limit(text, cap):
    if not text.strip():
        return
    parts = split_to_limit(text, cap, weighted)
    rejoin_check(text, parts)
    assert all(weighted(part) <= cap for part in parts)


@given(words, st.lists(punct, min_size=80, max_size=80), st.integers(min_value=10, max_value=120))
@settings(max_examples=examples(200), deadline=None)
def test_property_split_of_prose(word_list, separators, cap):
    text = "".join(w + s for w, s in zip(word_list, separators)).strip()
    if not text:
        return
    parts = split_to_limit(text, cap, len)
    gaps = rejoin_check(text, parts)
    assert all(len(part) <= cap for part in parts)
    # a cut between words (not after a sentence) is made only when the next word does not fit
    for part, gap, following in zip(parts, gaps, parts[1:]):
        after_sentence = "\n" in gap or part[-1] in ".!?…”"
        if gap and not after_sentence:
            assert len(part) + len(gap) + len(following.split()[0]) > cap


x_texts = st.lists(
    st.sampled_from(["Pepys", "went", "to", "the", "office.", "Mr.", "Sheply!", "日本", "😀", "https://t.co/abc",
                     "example.com", "@user", "#tag", "\n", "é"]),
    max_size=150,
).map(" ".join)


@given(x_texts)
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_x_split_within_280_weighted(text):
    if not text.strip():
        return
    parts = split_text(text, "x")
    rejoin_check(text, parts)
    assert all(x(part) <= 280 for part in parts)
    assert (len(parts) == 1) == (x(text.strip()) <= 280)
