"""Mastodon's HTML back to text, and text comparison, for finding the bot's own statuses.

The API gives a status only as HTML (`content`); the plain text it was made
from comes back only from GET /api/v1/statuses/:id/source. Mastodon renders a
local status's plain text with TextFormatter (app/lib/text_formatter.rb):

- every character outside an entity is escaped (ERB::Util.h: & < > " ');
- URLs with a scheme become <a> whose visible text is split into spans
  (<span class="invisible">https://</span><span class="ellipsis">first 30
  characters</span><span class="invisible">the rest</span>): the spans
  together hold the whole URL, so dropping the tags gives it back;
- hashtags become #<span>tag</span> links, and mentions h-cards showing
  @<span>username</span>: a remote account's domain is left out of the text;
- simple_format: paragraphs (split on two or more line breaks) in <p>, single
  line breaks as <br />, the remaining "\\n" deleted. The text was stripped
  first (Status#prepare_contents).

`status_text` undoes this (paragraphs and <br> to line breaks, tags dropped,
entities unescaped); `same_text` compares two texts as Mastodon may show them
(white space runs and remote mentions' domains do not count).
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

# Account::MENTION_RE: @username, optionally @domain
_MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)@[\w.-]*\w", re.IGNORECASE)


class _TextOf(HTMLParser):
    _SKIPPED = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.paragraphs = 0
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIPPED:
            self.skipping += 1
        elif tag == "p":
            if self.paragraphs:
                self.parts.append("\n\n")
            self.paragraphs += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def status_text(content: str | None) -> str:
    """A status's (or bio's) HTML as the plain text it shows."""
    if not content:
        return ""
    parser = _TextOf()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


def comparable(text: str) -> str:
    """`text` reduced to what survives Mastodon's rendering unchanged."""
    text = unicodedata.normalize("NFC", text)
    text = _MENTION.sub(r"@\1", text)
    return " ".join(text.split())


def same_text(shown: str, sent: str) -> bool:
    """Whether a status showing `shown` (from `status_text`) was made from `sent`."""
    return comparable(shown) == comparable(sent)
