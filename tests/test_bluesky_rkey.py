"""`delivery_rkey`: the record key of one Bluesky delivery, a TID the PDS takes.

The PDS's rules these tests hold the keys to (checked in @atproto/syntax and
@atproto/pds, and against the reference PDS): 13 characters of base32-sortable;
the first one of 2-7, a-j (top bit 0 keeps it to 2-7, a, b); a client-chosen key
must not contain a word of the PDS's slur list.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.publishers.bluesky import records
from bot.publishers.bluesky.records import delivery_rkey, is_tid, rkey_refused, tid_parts
from tests.fakes.bluesky_server import _refused_rkey
from tests.support.examples import examples

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_SECOND = datetime(2255, 6, 5, 23, 47, 33, tzinfo=UTC)  # the last whole second 53 bits of µs hold whole

instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2255, 6, 5, 23, 47, 33), timezones=st.just(UTC)
)
zones = [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]
any_instants = st.datetimes(timezones=st.sampled_from(zones))
ids = st.text(min_size=1, max_size=40)


def second_of(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(seconds=1)


def key_second(rkey: str) -> int:
    return tid_parts(rkey)[0] // 1_000_000


def time_digits_refused(second: int) -> bool:
    """Whether the first 7 characters (which only the time decides, in ~1.05 s steps) of a key
    at the start or the end of `second` spell a word the PDS refuses."""
    return any(rkey_refused(records._tid(second * 1_000_000 + sub, 0)[:7]) for sub in (0, 999_999))


@settings(max_examples=examples(400))
@given(any_instants, ids, ids)
def test_always_a_tid_the_pds_takes(instant, entry, account):
    key = delivery_rkey(instant, entry, account)
    assert len(key) == 13 and is_tid(key)
    assert key[0] in "234567ab"  # top bit 0
    assert not rkey_refused(key)
    assert _refused_rkey("app.bsky.feed.post", key) is None  # the fake PDS's rules agree
    micros, clock = tid_parts(key)
    assert 0 <= micros < 2**53 and 0 <= clock < 1024


@given(any_instants, ids, ids, st.integers(0, 999_999), st.integers(-14 * 60, 14 * 60))
def test_deterministic_whatever_the_sub_second_or_the_time_zone(instant, entry, account, micro, offset):
    key = delivery_rkey(instant, entry, account)
    assert delivery_rkey(instant, entry, account) == key
    assert delivery_rkey(instant.replace(microsecond=micro), entry, account) == key
    try:
        elsewhere = instant.astimezone(timezone(timedelta(minutes=offset)))
    except OverflowError:
        return
    assert delivery_rkey(elsewhere, entry, account) == key


def test_a_naive_instant_is_read_as_utc():
    naive = datetime(2026, 5, 12, 9, 30, 15)
    assert delivery_rkey(naive, "e1", "paper") == delivery_rkey(naive.replace(tzinfo=UTC), "e1", "paper")


@given(instants, ids, ids, ids, ids)
def test_different_deliveries_at_one_instant_get_different_keys(instant, entry1, account1, entry2, account2):
    if (entry1, account1) == (entry2, account2):
        assert delivery_rkey(instant, entry1, account1) == delivery_rkey(instant, entry2, account2)
    else:
        assert delivery_rkey(instant, entry1, account1) != delivery_rkey(instant, entry2, account2)


def test_a_thousand_entries_of_one_account_in_one_second_get_a_thousand_keys():
    instant = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)
    keys = {delivery_rkey(instant, f"entry-{n}", "paper") for n in range(1000)}
    assert len(keys) == 1000
    assert {key_second(k) for k in keys} == {second_of(instant)}
    # the hash moves the sub-second part and the clock id, not the second
    assert len({tid_parts(k)[1] for k in keys}) > 500


@given(instants, ids, ids)
def test_the_key_holds_the_instants_whole_second(instant, entry, account):
    second = second_of(instant)
    found = key_second(delivery_rkey(instant, entry, account))
    if time_digits_refused(second):
        assert second - 2 <= found < second
    else:
        assert found == second


@settings(max_examples=examples(300))
@given(instants, instants, ids, ids, ids, ids)
def test_ordered_by_instant_across_seconds(a, b, entry_a, account_a, entry_b, account_b):
    if second_of(a) > second_of(b):
        a, b, entry_a, account_a, entry_b, account_b = b, a, entry_b, account_b, entry_a, account_a
    key_a, key_b = delivery_rkey(a, entry_a, account_a), delivery_rkey(b, entry_b, account_b)
    assert key_second(key_a) <= key_second(key_b)
    if second_of(a) < second_of(b) and not time_digits_refused(second_of(a)) and not time_digits_refused(second_of(b)):
        assert key_a < key_b  # as strings: base32-sortable sorts as the numbers do


@given(st.integers(0, records._MAX_SECOND - 1), ids, ids, ids)
def test_consecutive_seconds_are_ordered(second, entry, account, other):
    a = EPOCH + timedelta(seconds=second)
    b = a + timedelta(seconds=1)
    if not time_digits_refused(second) and not time_digits_refused(second + 1):
        assert delivery_rkey(a, entry, account) < delivery_rkey(b, entry, account)
        assert delivery_rkey(a, entry, account) < delivery_rkey(b, other, account)
        assert delivery_rkey(a, other, account) < delivery_rkey(b, entry, account)


@pytest.mark.parametrize("beyond", [LAST_SECOND + timedelta(seconds=1), LAST_SECOND + timedelta(days=1),
                                    datetime(2256, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)])
def test_after_2255_keys_are_clamped_to_the_last_whole_second_not_wrapped(beyond):
    key = delivery_rkey(beyond, "e1", "paper")
    assert key == delivery_rkey(LAST_SECOND, "e1", "paper")
    assert is_tid(key) and key_second(key) == second_of(LAST_SECOND)
    # still after every earlier key: a wrap would put it back near 1970
    assert key > delivery_rkey(LAST_SECOND - timedelta(seconds=1), "e1", "paper")
    assert key > delivery_rkey(datetime(2100, 1, 1, tzinfo=UTC), "e1", "paper")
    assert tid_parts(key)[0] <= 2**53 - 1


def test_the_last_whole_second_is_the_last_one_53_bits_hold():
    assert second_of(LAST_SECOND) == records._MAX_SECOND
    # every key of that second fits, the next second's last microsecond would not
    assert (second_of(LAST_SECOND) * 1_000_000 + 999_999) < 2**53
    assert ((second_of(LAST_SECOND) + 1) * 1_000_000 + 999_999) >= 2**53


def test_before_1970_keys_are_clamped_to_the_epoch():
    key = delivery_rkey(datetime(1900, 1, 1, tzinfo=UTC), "e1", "paper")
    assert key == delivery_rkey(EPOCH, "e1", "paper")
    assert is_tid(key) and key_second(key) == 0


def test_a_second_whose_digits_spell_a_refused_word_borrows_an_earlier_second():
    # 2062-10-06T04:52:30Z: every key of this second starts with the same seven
    # characters, which contain a word the PDS refuses in client-chosen keys.
    instant = datetime(2062, 10, 6, 4, 52, 30, tzinfo=UTC)
    second = second_of(instant)
    assert time_digits_refused(second)
    assert all(rkey_refused(records._tid(second * 1_000_000 + sub, clock))
               for sub in (0, 500_000, 999_999) for clock in (0, 1023))
    keys = {delivery_rkey(instant, f"e{n}", "paper") for n in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert is_tid(key) and not rkey_refused(key)
        assert second - 2 <= key_second(key) < second
    later = delivery_rkey(instant + timedelta(seconds=5), "e0", "paper")
    assert all(key < later for key in keys)


def test_refused_words_are_found_anywhere_in_a_key():
    word = "n4qq3r"  # one spelling of the word the PDS's unanchored pattern refuses
    assert rkey_refused("3" + word + "222222")
    assert rkey_refused("3kab2" + word + "zz")
    assert not rkey_refused("3" + word[:-1] + "s222222")
    assert not rkey_refused("3kfzzzzzz2222")
