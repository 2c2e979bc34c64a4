"""Anniversary replay bot: replay a historical live feed on its anniversaries."""

__version__ = "0.1.0"
