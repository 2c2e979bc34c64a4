"""`bot schema`: the JSON Schema editors check feed files with.

Instances are read as YAML 1.2 (what yaml-language-server does), not with
PyYAML's YAML 1.1 rules: an unquoted 1917-11-06 is text, not a date.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import shutil

import jsonschema
import pytest
import yaml

from bot.feed import config, postfile, schema as feed_schema
from bot.feed.dates import parse_time
from tests.support.feeds import REPO, SAMPLE

README = (REPO / "README.md").read_text(encoding="utf-8")

VALIDATORS = (jsonschema.Draft202012Validator, jsonschema.Draft7Validator)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML with the YAML 1.2 core schema's plain scalars: null, true/false,
    decimal ints and floats; everything else (dates, 14:05, yes) is a string."""


Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^[-+]?[0-9]+$", list("-+0123456789")),
    ("float", r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", list("-+.0123456789")),
):
    Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


def load12(text: str):
    return yaml.load(text, Loader=Yaml12Loader)


@functools.cache
def built(for_: str) -> dict:
    return feed_schema.build(for_)


def problems(instance, for_="any", document=None) -> list[str]:
    """The schema's complaints about `instance`; the same under draft 2020-12 and
    draft-07 (what most editors implement), or the test fails."""
    document = document or built(for_)
    verdicts = [sorted(e.message for e in validator(document).iter_errors(instance)) for validator in VALIDATORS]
    assert bool(verdicts[0]) == bool(verdicts[1]), verdicts
    return verdicts[0]


FEED = {
    "title": "T",
    "timezone": "Europe/Berlin",
    "accounts": {"paper": {"platform": "x", "persona": "daily"}},
    "personas": {"daily": {"name": "Daily"}},
}
POSTS = {"date": "1917-11-06", "posts": [{"time": "14:05", "account": "paper", "text": "Hello."}]}


def changed(document, path, value=..., drop=False):
    """A deep copy of `document` with the item at `path` (a tuple of keys) set or dropped."""
    document = json.loads(json.dumps(document))
    *parents, last = path
    target = document
    for key in parents:
        target = target[key]
    if drop:
        del target[last]
    else:
        target[last] = value
    return document


@pytest.mark.parametrize("for_", feed_schema.TARGETS)
def test_the_schema_is_a_valid_schema_in_both_drafts(for_):
    for validator in VALIDATORS:
        validator.check_schema(feed_schema.build(for_))


def test_the_sample_feed_validates():
    files = sorted(SAMPLE.rglob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        instance = load12(path.read_text(encoding="utf-8"))
        target = "feed" if path.name == "feed.yaml" else "posts"
        assert problems(instance, target) == [], path
        assert problems(instance, "any") == [], path


def test_the_init_template_validates():
    from bot.feed.template import FILES

    for name, text in FILES.items():
        assert problems(load12(text)) == [], name


@pytest.mark.parametrize("bad", [
    pytest.param(changed(FEED, ("titel",), "T"), id="unknown key"),
    pytest.param(changed(FEED, ("accounts", "paper", "platfrom"), "x"), id="unknown account key"),
    pytest.param(changed(FEED, ("personas", "daily", "avatr"), "a.png"), id="unknown persona key"),
    pytest.param(changed(FEED, ("timezone",), drop=True), id="missing timezone"),
    pytest.param(changed(FEED, ("accounts", "paper", "persona"), drop=True), id="missing persona"),
    pytest.param(changed(FEED, ("personas", "daily", "name"), drop=True), id="missing name"),
    pytest.param(changed(FEED, ("years_later",), "ten"), id="years_later text"),
    pytest.param(changed(FEED, ("years_later",), 0), id="years_later zero"),
    pytest.param(changed(FEED, ("title",), 1917), id="title a number"),
    pytest.param(changed(FEED, ("calendar",), "julain"), id="unknown calendar"),
    pytest.param(changed(FEED, ("accounts", "paper", "platform"), "myspace"), id="unknown platform"),
    pytest.param(changed(FEED, ("accounts", "paper", "platform"), []), id="no platform"),
    pytest.param(changed(FEED, ("accounts", "paper", "visibility"), "friends"), id="unknown visibility"),
    pytest.param(changed(FEED, ("accounts", "paper", "max_chars"), "500"), id="max_chars text"),
    pytest.param(changed(FEED, ("accounts", "Paper"), {"platform": "x", "persona": "daily"}), id="account key upper case"),
    pytest.param(changed(FEED, ("accounts",), {}), id="no accounts"),
])
def test_bad_feed_yaml_fails(bad):
    assert problems(bad, "feed")
    assert problems(bad, "any")


@pytest.mark.parametrize("bad", [
    pytest.param(changed(POSTS, ("posts", 0, "txt"), "x"), id="unknown entry key"),
    pytest.param(changed(POSTS, ("dates",), "1917-11-06"), id="unknown file key"),
    pytest.param(changed(POSTS, ("posts", 0, "time"), "25:00"), id="time 25:00"),
    pytest.param(changed(POSTS, ("posts", 0, "time"), "14:60"), id="time 14:60"),
    pytest.param(changed(POSTS, ("posts", 0, "time"), "14.05"), id="time with a dot"),
    pytest.param(changed(POSTS, ("posts", 0, "time"), 845), id="time a number"),
    pytest.param(changed(POSTS, ("posts", 0, "time"), drop=True), id="missing time"),
    pytest.param(changed(POSTS, ("posts", 0, "account"), drop=True), id="missing account"),
    pytest.param(changed(POSTS, ("posts", 0, "text"), drop=True), id="no text, no storm"),
    pytest.param(changed(POSTS, ("posts", 0, "text"), "   "), id="blank text"),
    pytest.param(changed(POSTS, ("posts", 0, "text"), 42), id="text a number"),
    pytest.param(changed(POSTS, ("posts", 0, "id"), "two words"), id="id with a space"),
    pytest.param(changed(POSTS, ("date",), "1917-11-6"), id="date without a zero"),
    pytest.param(changed(POSTS, ("date",), "06.11.1917"), id="date dotted"),
    pytest.param(changed(POSTS, ("date",), "1917-13-01"), id="month 13"),
    pytest.param(changed(POSTS, ("posts", 0, "date"), "1917/11/07"), id="entry date slashed"),
    pytest.param(changed(POSTS, ("date",), drop=True), id="no date anywhere"),
    pytest.param(changed(POSTS, ("posts",), drop=True), id="missing posts"),
    pytest.param(changed(POSTS, ("posts", 0, "media"), [{"file": f"{i}.png", "alt": "a"} for i in range(5)]), id="five images"),
    pytest.param(changed(POSTS, ("posts", 0, "media"), [{"file": "a.png", "alt": "a", "caption": "c"}]), id="unknown media key"),
    pytest.param(changed(POSTS, ("posts", 0, "media"), [{"alt": "a"}]), id="media without file"),
])
def test_bad_post_file_fails(bad):
    assert problems(bad, "posts")
    assert problems(bad, "any")


@pytest.mark.parametrize("good", [
    pytest.param(changed(POSTS, ("posts", 0, "time"), "9:05:30"), id="one-digit hour, seconds"),
    pytest.param(changed(changed(POSTS, ("date",), drop=True), ("posts", 0, "date"), "1917-11-07"), id="entry date only"),
    pytest.param(changed(changed(POSTS, ("posts", 0, "text"), drop=True), ("posts", 0, "storm"), "evening"), id="storm without text"),
    pytest.param(changed(POSTS, ("posts", 0, "media"), ["a.png", {"file": "b.png", "alt": None}]), id="bare media path"),
    pytest.param(changed(POSTS, ("posts",), None), id="posts empty"),
])
def test_valid_post_files_pass(good):
    assert problems(good, "posts") == []


def test_valid_feed_variants_pass():
    cross = changed(FEED, ("accounts", "paper", "platform"), ["x", "mastodon"])
    assert problems(changed(cross, ("accounts", "paper", "max_chars"), 1000), "feed") == []
    assert problems(changed(FEED, ("calendar",), "julian"), "feed") == []


def test_the_time_pattern_accepts_exactly_what_the_validator_does():
    pattern = re.compile(feed_schema.TIME)
    digits = [str(n) for n in range(100)] + [f"{n:02d}" for n in range(10)] + ["", "x", "٣"]
    candidates = {f"{h}:{m}" for h, m in itertools.product(digits, digits)}
    candidates |= {f"{t}:{s}" for t in ("00:00", "23:59", "7:30") for s in digits}
    candidates |= {"12:00:00:00", " 12:00", "12:00 ", "12h00"}
    for text in sorted(candidates):
        assert bool(pattern.search(text)) == (parse_time(text) is not None), text


def test_the_date_pattern_is_the_validator_s_with_months_and_days_in_range():
    pattern = re.compile(feed_schema.DATE)
    for text in ("1917-11-06", "0001-01-31", "1700-02-29", "1917-02-30"):
        assert pattern.search(text), text  # possible or not in a calendar: bot check decides
    for text in ("1917-00-10", "1917-11-00", "1917-11-32", "1917-1-06", "17-11-06", "1917-11-06T10:00"):
        assert not pattern.search(text), text


def test_keys_come_from_the_validator_s_lists(monkeypatch):
    defs = feed_schema.build()["$defs"]
    assert list(defs["feed"]["properties"]) == list(config.FEED_KEYS)
    assert list(defs["feed"]["properties"]["accounts"]["additionalProperties"]["properties"]) == list(config.ACCOUNT_KEYS)
    assert list(defs["feed"]["properties"]["personas"]["additionalProperties"]["properties"]) == list(config.PERSONA_KEYS)
    assert list(defs["postFile"]["properties"]) == list(postfile.FILE_KEYS)
    assert list(defs["entry"]["properties"]) == list(postfile.ENTRY_KEYS)
    assert defs["feed"]["properties"]["accounts"]["additionalProperties"]["properties"]["visibility"]["enum"] == list(config.VISIBILITIES)
    # A key the validator learns and the schema does not describe is an error, not a gap.
    monkeypatch.setattr(postfile, "ENTRY_KEYS", (*postfile.ENTRY_KEYS, "pinned"))
    with pytest.raises(feed_schema.SchemaDrift, match="pinned"):
        feed_schema.build()


def test_platforms_come_from_the_publisher_registry(monkeypatch):
    from bot import publishers

    installed = feed_schema.build("feed")  # built before the registry changes (not the cached one)
    platform = installed["$defs"]["feed"]["properties"]["accounts"]["additionalProperties"]["properties"]["platform"]
    assert platform["anyOf"][0]["enum"] == publishers.available()
    monkeypatch.setattr(publishers, "available", lambda: ["console", "x", "zulip"])
    zulip = changed(FEED, ("accounts", "paper", "platform"), "zulip")
    assert problems(zulip, "feed", feed_schema.build("feed")) == []
    assert problems(zulip, "feed", installed)  # the registry's names, not a fixed list


def test_the_description_says_it_approximates():
    document = feed_schema.build()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "approximates" in document["description"] and "bot check" in document["description"]


def test_bot_schema_prints_the_document(invoke_bot, tmp_path):
    code, out, _ = invoke_bot("schema", cwd=tmp_path)
    assert code == 0
    assert json.loads(out) == feed_schema.build("any")
    code, out, _ = invoke_bot("schema", "--for", "posts", cwd=tmp_path)
    assert code == 0
    assert json.loads(out) == feed_schema.build("posts")
    assert invoke_bot("schema", "--for", "atlas", cwd=tmp_path).code == 2


def test_a_file_with_the_modeline_still_passes_check(run_bot, tmp_path):
    """The README's editor line is a YAML comment: bot check reads past it."""
    feed = tmp_path / "posts"
    shutil.copytree(SAMPLE, feed)
    code, out, _ = run_bot("schema", cwd=tmp_path)
    assert code == 0
    (tmp_path / "feed.schema.json").write_text(out, encoding="utf-8")
    modeline = next(line for line in README.splitlines() if line.startswith("# yaml-language-server: $schema="))
    assert modeline == "# yaml-language-server: $schema=../feed.schema.json"
    for path in (feed / "feed.yaml", feed / "1917-11-06.yaml"):
        path.write_text(modeline + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    code, out, err = run_bot("check", "posts", cwd=tmp_path)
    assert code == 0, out + err
    assert out.startswith("0 errors, 0 warnings"), out
