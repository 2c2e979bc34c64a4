"""The container's HEALTHCHECK: `python -m bot.ops.probe`.

Exit 0 when BOT_HTTP is not set (nothing to ask) or /healthz answers 200; exit 1
otherwise, with the reason on stdout (Docker keeps it in `docker inspect`). A
wildcard address (0.0.0.0, ::) is asked on loopback.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from bot.errors import ConfigError
from bot.settings import http_address

WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def probe(env=None, timeout: float = 4.0) -> tuple[int, str]:
    env = os.environ if env is None else env
    try:
        address = http_address(env, "BOT_HTTP")
    except ConfigError as exc:
        return 1, str(exc)
    if address is None:
        return 0, "BOT_HTTP is not set: nothing to check"
    host, port = address
    host = WILDCARD.get(host, host)
    url = f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 0, answer.read().decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return 1, exc.read().decode("utf-8", "replace").strip()
    except OSError as exc:
        return 1, f"{url}: {getattr(exc, 'reason', exc)}"


def main() -> None:
    code, text = probe()
    print(text)
    sys.exit(code)


if __name__ == "__main__":
    main()
