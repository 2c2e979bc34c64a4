"""Write bot/publishers/lengths/_twitter_data.py: the twitter-text snapshot bot.publishers.lengths.twitterdata serves to the X counter.

    python scripts/gen_twitter_data.py          # (re)write the snapshot
    python scripts/gen_twitter_data.py --check  # exit 1 if it is stale

The data is read from the installed twitter-text-parser by the same function
bot.publishers.lengths.twitterdata falls back to when the snapshot was made from another version,
so a snapshot and a live read mean the same thing. Run this after upgrading
twitter-text-parser, and commit the output.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pprint
import sys
from collections.abc import Callable
from pathlib import Path

from bot.publishers.lengths import twitterdata

TARGET = Path(__file__).resolve().parent.parent / "bot" / "publishers" / "lengths" / "_twitter_data.py"
WIDTH = 100


def literal(text: str) -> str:
    """`text` as a double-quoted ASCII Python literal: raw if it can be, else with escapes."""
    if text.isascii() and text.isprintable() and '"' not in text and not text.endswith("\\"):
        return f'r"{text}"' if "\\" in text else f'"{text}"'
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def packed(groups: list[list[str]]) -> list[str]:
    """Items (already literals) four spaces in, each group starting a new line, lines <= WIDTH."""
    lines = []
    for group in groups:
        line = "   "
        for item in group:
            if len(line) + len(item) + 2 > WIDTH and line.strip():
                lines.append(line)
                line = "   "
            line += f" {item},"
        lines.append(line)
    return lines


def frozenset_lines(name: str, items: frozenset[str] | None, key: Callable[[str], str]) -> list[str]:
    """`NAME = frozenset({...})`, one group of lines per `key(item)`, sorted."""
    if items is None:
        return [f"{name} = None"]
    groups: dict[str, list[str]] = {}
    for item in sorted(items):
        groups.setdefault(key(item), []).append(literal(item))
    return [f"{name} = frozenset({{", *packed([groups[k] for k in sorted(groups)]), "})"]


def render(data: twitterdata.TwitterData, version: str) -> str:
    """The text of bot/publishers/lengths/_twitter_data.py for `data`, read from twitter-text-parser `version`."""
    lines = [
        f'"""twitter-text-parser {version} data for bot.publishers.lengths.twitterdata: generated, do not edit.',
        "",
        "Written by scripts/gen_twitter_data.py; run it again after upgrading",
        "twitter-text-parser (tests/test_textlength_data.py fails until then, and",
        "bot.publishers.lengths.twitterdata reads the library itself, slowly, meanwhile).",
        '"""',
        "",
        f"VERSION = {literal(version)}",
        "",
        "# config['defaults']",
        "CONFIG = " + pprint.pformat(data.config, width=WIDTH, sort_dicts=False),
        "",
        "# regex char class bodies",
        f"SPACES_GROUP = {literal(data.spaces_group)}",
        f"LATIN_ACCENT_CHARS = {literal(data.latin_accent_chars)}",
        "",
        "# single code point emoji: inclusive ranges",
    ]
    if data.emoji_singles is None:
        lines.append("EMOJI_SINGLES = None")
    else:
        lines += ["EMOJI_SINGLES = (", *(f"    (0x{a:05x}, 0x{b:05x})," for a, b in data.emoji_singles), ")"]
    lines += ["", "# emoji of several code points, a line (or more) per first code point"]
    lines += frozenset_lines("EMOJI_SEQUENCES", data.emoji_sequences, key=lambda s: s[0])
    lines += ["", "# the non-ASCII chars a top level domain starts with"]
    lines.append(f"IDN_TLD_FIRSTS = {literal(data.idn_tld_firsts) if data.idn_tld_firsts is not None else None}")
    lines += ["", "# top level domains of ASCII letters, then non-ASCII chars, lower case"]
    if data.mixed_tlds is None:
        lines.append("MIXED_TLDS = None")
    else:
        lines.append("MIXED_TLDS = (" + "".join(f"{literal(t)}, " for t in data.mixed_tlds).rstrip() + ")")
    lines += ["", "# all-ASCII top level domains, lower case, a line (or more) per first letter"]
    lines += frozenset_lines("ASCII_TLDS", data.ascii_tlds, key=lambda s: s[0])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the snapshot is stale")
    args = parser.parse_args(argv)
    text = render(twitterdata.library_data(), importlib.metadata.version("twitter-text-parser"))
    if args.check:
        stale = not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text
        print(f"{TARGET}: {'stale, run ' + sys.argv[0] if stale else 'up to date'}")
        return 1 if stale else 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
