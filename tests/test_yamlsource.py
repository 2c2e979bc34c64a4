"""The YAML reader: its faster resolver gives PyYAML's tags, and values keep their lines."""

import os

import pytest
import yaml
from hypothesis import given, strategies as st

from bot.feed.yamlsource import Loader, YList, YMap, _plain_tag, parse

TRICKY = """\
plain: hello
yes_: yes
no_: No
on_: ON
off_: off
true_: true
null_: ~
null2: null
empty:
int: 42
hex: 0x1F
octal: 0o17
under: 1_000
sexagesimal: 14:05
float: 3.5e3
inf: .inf
nan: .NaN
date: 1917-11-07
stamp: 1917-11-07 20:30:00
merge: <<
equals: =
quoted: "yes"
single: '42'
tagged: !!str 14:05
literal: |
  text
list: [1, two, 3.0, ~, "4"]
nested: {a: [b, {c: d}]}
"""


def tags(node):
    if isinstance(node, yaml.ScalarNode):
        return node.tag, node.value
    if isinstance(node, yaml.SequenceNode):
        return node.tag, [tags(n) for n in node.value]
    return node.tag, [(tags(k), tags(v)) for k, v in node.value]


def test_every_tag_is_what_pyyaml_resolves():
    ours = yaml.compose(TRICKY, Loader=Loader)
    theirs = yaml.compose(TRICKY, Loader=yaml.SafeLoader)
    assert tags(ours) == tags(theirs)


@given(st.text(alphabet="0123456789:.-+_eExXoObB~ntrufalsyNTRUFALSYoOinf<=", max_size=12))
def test_plain_scalar_tags_match_the_resolver(text):
    assert _plain_tag(text) == yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))


def test_values_remember_lines_and_raw_text():
    doc = parse("date: 1917-11-07\nposts:\n  - time: 14:05\n    text: hi\n  - time: '09:00'\n")
    assert isinstance(doc, YMap) and isinstance(doc["posts"], YList)
    assert doc.key_lines == {"date": 1, "posts": 2}
    assert doc["posts"].item_lines == [3, 5]
    first = doc["posts"][0]
    assert first["time"] == 845 and first.raw["time"] == "14:05"  # base 60, the raw text kept
    assert first.key_lines == {"time": 3, "text": 4}


def test_aliases_are_shared_not_copied():
    doc = parse("a: &x [1, 2]\nb: *x\nc: *x\n")
    assert doc["a"] is doc["b"] is doc["c"]


def test_a_file_that_grew_since_its_stat_is_read_whole(tmp_path):
    from bot.feed.yamlsource import read_source

    path = tmp_path / "day.yaml"
    path.write_bytes(b"date: 1917-11-07\n")
    before = os.stat(path)
    with open(path, "ab") as handle:
        handle.write(b"posts: []\n" * 1000)
    assert read_source(path, before) == path.read_bytes()
    assert read_source(path) == path.read_bytes()


def test_the_size_limit_holds_whatever_the_stat_said(tmp_path, monkeypatch):
    from bot.feed import yamlsource

    monkeypatch.setattr(yamlsource, "MAX_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a" * 10)
    small = os.stat(path)
    path.write_bytes(b"a" * 500)
    with pytest.raises(yamlsource.SourceProblem, match="over the"):
        yamlsource.read_source(path, small)
