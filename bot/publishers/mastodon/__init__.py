"""Mastodon: the `mastodon` publisher (facts in `publisher`, Mastodon.py calls in `api`)."""

from bot.publishers.mastodon.publisher import MastodonPublisher

__all__ = ["MastodonPublisher"]
