"""Bluesky: the `bluesky` publisher (facts in `publisher`, atproto calls in `api`)."""

from bot.publishers.bluesky.publisher import BlueskyPublisher

__all__ = ["BlueskyPublisher"]
