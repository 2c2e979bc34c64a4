"""`webhook`: a publisher that POSTs each entry, and each persona switch, as JSON to a URL.

Settings (environment or .env), ACCOUNT = the account key upper-cased, other characters as `_`:
    WEBHOOK_<ACCOUNT>_URL   where to POST (http or https); treated as a secret
    WEBHOOK_TIMEOUT         seconds per request (default 10)

A post is sent as {"type": "post", "entry_id", "account", "network", "text", "persona",
"media": [{"file", "alt"}], "reply_to", "thread_root", "idempotency_key"}; a switch as
{"type": "persona", "account", "persona": {"key", "name", "bio", "avatar", "banner"}}.
The receiver answers 2xx; a JSON answer's "id" becomes the remote id (else the
idempotency key does), which later replies get as "reply_to".
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bot.errors import PublishError, RateLimited, RejectedError, TransientError, UncertainError
from bot.publishers import OutgoingPost, Persona, Publisher, env_name

__all__ = ["WebhookPublisher"]


class WebhookPublisher(Publisher):
    name = "webhook"
    display_name = "Webhook"
    timeout_variable = "WEBHOOK_TIMEOUT"  # the base class reads it: a bad value stops `bot run` at start
    default_timeout = 10.0

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        return [f"WEBHOOK_{env_name(account_key)}_URL"]

    def publish(self, post: OutgoingPost) -> str:
        answer = self._send({
            "type": "post",
            "entry_id": post.entry_id,
            "account": post.account,
            "network": post.network,
            "text": post.text,
            "persona": self._persona(post.persona),
            "media": [{"file": self._relative(m.path), "alt": m.alt} for m in post.media],
            "reply_to": post.reply_to_remote,
            "thread_root": post.thread_root_remote,
            "idempotency_key": post.idempotency_key,
        }, f"posting {post.entry_id}", creates=True)
        return str(answer.get("id") or post.idempotency_key or post.entry_id)

    def switch_persona(self, persona: Persona) -> None:
        # Setting a persona twice is harmless: a lost answer is only worth a retry.
        self._send({"type": "persona", "account": self.account.key, "persona": self._persona(persona)},
                   f"switching to persona {persona.key}", creates=False)

    # -- helpers -------------------------------------------------------------

    def _persona(self, persona: Persona) -> dict[str, Any]:
        return {"key": persona.key, "name": persona.name, "bio": persona.bio,
                "avatar": self._relative(persona.avatar), "banner": self._relative(persona.banner)}

    def _relative(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return Path(path).relative_to(self.feed_dir).as_posix()
        except ValueError:
            return Path(path).name

    def _send(self, body: dict[str, Any], action: str, *, creates: bool) -> dict[str, Any]:
        """POST `body`; the answer's JSON object ({} when there is none). Raises PublishError only."""
        where = f"webhook of account {self.account.key}: {action}"  # never the URL: it may hold a token
        url = self.env.get(self.required_credentials(self.account.key)[0], "")
        if not url.startswith(("http://", "https://")):
            raise RejectedError(f"{where}: the URL must start with http:// or https://")
        request = urllib.request.Request(
            url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "anniversary-bot-webhook"})
        self.sending()  # a process that is no longer the active one (its lease lapsed) sends nothing
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(where, exc) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (ConnectionRefusedError, socket.gaierror)):
                raise TransientError(f"{where}: could not connect") from None
            raise _lost(where, type(exc.reason).__name__, creates) from None
        except (OSError, ValueError) as exc:  # timeout or reset while reading the answer
            raise _lost(where, type(exc).__name__, creates) from None
        try:
            answer = json.loads(data) if data.strip() else {}
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}


def _refusal(where: str, exc: urllib.error.HTTPError) -> PublishError:
    message = f"{where}: HTTP {exc.code}"
    if exc.code == 429:
        after = (exc.headers.get("Retry-After") or "").strip()
        return RateLimited(message, float(after) if after.isdigit() else None)
    if exc.code >= 500:
        return TransientError(message)
    return RejectedError(message)


def _lost(where: str, reason: str, creates: bool) -> PublishError:
    if creates:
        return UncertainError(f"{where}: no answer ({reason}); the receiver may have it")
    return TransientError(f"{where}: no answer ({reason})")
