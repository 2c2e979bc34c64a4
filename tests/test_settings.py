"""bot.settings: one owner for every setting, with its precedence and its errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ConfigError
from bot.settings import DEFAULT_LEDGER, Bound, Settings

BERLIN = ZoneInfo("Europe/Berlin")


def test_defaults_from_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    s = Settings.resolve({})
    assert (s.posts, s.display, s.ledger, s.ledger_given) == (Path("posts"), "posts", Path(DEFAULT_LEDGER), False)
    assert (s.grace, s.retries, s.backoff, s.daily_limit, s.years_later) == (900.0, 5, 1.0, 17, None)
    assert s.cache == tmp_path / "anniversary-bot"  # the user's cache folder, not the working folder


def test_options_beat_the_environment():
    env = {"BOT_POSTS": "envfeed", "BOT_LEDGER": "/var/l.sqlite3", "BOT_YEARS_LATER": "60", "BOT_CACHE": "/c"}
    s = Settings.resolve(env)
    assert (s.display, s.ledger, s.ledger_given, s.years_later, s.cache) == ("envfeed", Path("/var/l.sqlite3"), False, 60, Path("/c"))
    s = Settings.resolve(env, posts="optfeed", ledger="opt.sqlite3", years_later=70)
    assert (s.display, s.ledger, s.ledger_given, s.years_later) == ("optfeed", Path("opt.sqlite3"), True, 70)


def test_years_later_then_feed_then_rule():
    assert Settings.resolve({}).years_later_for(50, lambda: 110) == 50
    assert Settings.resolve({}).years_later_for(None, lambda: 110) == 110
    assert Settings.resolve({"BOT_YEARS_LATER": "60"}).years_later_for(50, lambda: 110) == 60
    assert Settings.resolve({}, years_later=70).years_later_for(50, lambda: 110) == 70


@pytest.mark.parametrize("name, value", [
    ("BOT_GRACE", "soon"), ("BOT_GRACE", "-1"), ("BOT_RETRIES", "1.5"), ("BOT_DAILY_LIMIT", "0"),
    ("BOT_BACKOFF", "nan"), ("BOT_BACKOFF", "-2"), ("BOT_YEARS_LATER", "0"), ("BOT_YEARS_LATER", "5001"),
])
def test_a_malformed_variable_is_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.resolve({name: value})


def test_blank_variables_are_unset():
    s = Settings.resolve({"BOT_GRACE": " ", "BOT_RETRIES": "", "BOT_YEARS_LATER": ""})
    assert (s.grace, s.retries, s.years_later) == (900.0, 5, None)


def test_bounds_parse_once_and_take_the_replay_zone():
    s = Settings.resolve({}, start="2027-11-06", end="2027-11-07")
    assert s.start.at(BERLIN) == datetime(2027, 11, 6, tzinfo=BERLIN)
    assert s.end.at(BERLIN) == datetime(2027, 11, 7, 23, 59, 59, 999999, tzinfo=BERLIN)  # a bare --until date: the whole day
    offset = Bound.parse("2027-11-06T10:00+01:00", end=False, name="--from").at(BERLIN)
    assert offset.utcoffset() == timedelta(hours=1) and offset == datetime(2027, 11, 6, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("option", ["start", "end"])
def test_a_bad_bound_is_a_config_error_naming_the_option(option):
    with pytest.raises(ConfigError, match="--from" if option == "start" else "--until"):
        Settings.resolve({}, **{option: "6 November"})


def test_unknown_accounts_are_named():
    s = Settings.resolve({}, accounts=["paper", "ghost"])
    with pytest.raises(ConfigError, match="'ghost'"):
        s.check_accounts(["paper", "crier"])
    Settings.resolve({}, accounts=["paper"]).check_accounts(["paper", "crier"])


def test_operations_settings_are_off_by_default():
    s = Settings.resolve({})
    assert (s.notify, s.notify_summary, s.http, s.log_format) == ((), None, None, "text")


def test_operations_settings():
    from datetime import time

    s = Settings.resolve({"BOT_NOTIFY": "json://127.0.0.1:9/ mailto://u:p@example.org?to=a@x.org,b@x.org,ntfy://topic",
                          "BOT_NOTIFY_SUMMARY": "8:05", "BOT_HTTP": "9108", "BOT_LOG_FORMAT": " JSON "})
    assert s.notify == ("json://127.0.0.1:9/", "mailto://u:p@example.org?to=a@x.org,b@x.org", "ntfy://topic")
    assert (s.notify_summary, s.http, s.log_format) == (time(8, 5), ("127.0.0.1", 9108), "json")  # loopback unless told
    assert Settings.resolve({"BOT_HTTP": "0.0.0.0:80"}).http == ("0.0.0.0", 80)
    assert Settings.resolve({"BOT_HTTP": "[::1]:9108"}).http == ("::1", 9108)
    assert "mailto" not in repr(s)  # the URLs carry tokens


@pytest.mark.parametrize("name, value", [
    ("BOT_NOTIFY", "hooks.example.org/abc"), ("BOT_NOTIFY", "json://ok/ token"), ("BOT_NOTIFY_SUMMARY", "24:00"),
    ("BOT_NOTIFY_SUMMARY", "8h"), ("BOT_HTTP", "localhost"), ("BOT_HTTP", "127.0.0.1:70000"), ("BOT_HTTP", ":9108"),
    ("BOT_LOG_FORMAT", "xml"),
])
def test_a_malformed_operations_setting_is_one_line_naming_it(name, value):
    with pytest.raises(ConfigError, match=f"^{name} must ") as caught:
        Settings.resolve({name: value})
    assert "\n" not in str(caught.value)
    if name == "BOT_NOTIFY":
        assert "abc" not in str(caught.value) and "token" not in str(caught.value)
