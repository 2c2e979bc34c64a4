"""X: the `x` publisher (facts in `publisher`, tweepy calls in `api`)."""

from bot.publishers.x.publisher import XPublisher

__all__ = ["XPublisher"]
