"""Notifications through Apprise (BOT_NOTIFY: one or more Apprise URLs; extra `notify`).

`Notifier` is a logging handler on the `bot` logger: `emit` only puts the action
on a bounded queue (a full queue drops it and counts), so nothing in the posting
path ever waits for a notification. Its own thread turns the actions into
messages (`bot.ops.digest`: bursts, repeats, repairs), watches the service's
health (`bot.ops.health`, every `HEALTH_EVERY` seconds: a hung timer is told
too), sends the daily summary (`bot.ops.summary`) and hands each message to
every target. Apprise's own timeouts bound each send (4 s to connect, 4 s to
read, unless the URL says `cto=`/`rto=`). A failure to notify is logged once per
burst, as `notify-failed`, with the targets masked (`json://***`): an Apprise URL
holds tokens, and neither it nor any credential of the environment goes into a
message or a log line.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from bot.errors import ConfigError
from bot.ops.digest import NOTABLE, Digest, Message
from bot.run.logs import Redact, event, secrets_in

QUEUE_SIZE = 1000
HEALTH_EVERY = 10.0  # seconds between health checks of the running service
CLOSE_WITHIN = 5.0  # seconds to send what is left when the service stops
OWN = {"notify-failed", "notify-dropped"}


def masked(url: str) -> str:
    """`scheme://***`: what of an Apprise URL may be shown."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"


def mask_urls(text: str, urls: Sequence[str]) -> str:
    """`text` with every part of the URLs that could be a token replaced by ***."""
    for url in urls:
        rest = url.partition("://")[2]
        host = re.split(r"[/:?#]", rest.rpartition("@")[2], maxsplit=1)[0]
        for part in sorted(set(re.split(r"[/:@?&=#,;]+", rest)), key=len, reverse=True):
            if len(part) >= 4 and part != host:
                text = text.replace(part, "***")
        text = text.replace(url, masked(url))
    return text


def apprise_module():
    try:
        import apprise
    except ImportError:
        raise ConfigError("BOT_NOTIFY needs Apprise: pip install 'anniversary-bot[notify]'") from None
    return apprise


class Targets:
    """One Apprise object per URL, so each target's outcome is known; Apprise's own log
    lines are kept (masked) for the reason, never printed."""

    def __init__(self, urls: Sequence[str], env: Mapping[str, str]) -> None:
        apprise = apprise_module()
        self.urls = list(urls)
        self.redact = Redact(secrets_in(env))
        self.log: list[str] = []
        logger = logging.getLogger("apprise")
        logger.handlers[:] = [_Collect(self.log)]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        asset = apprise.AppriseAsset(async_mode=False)
        self.targets = []
        for url in self.urls:
            target = apprise.Apprise(asset=asset)
            if not target.add(url):
                raise ConfigError(f"BOT_NOTIFY: Apprise does not know the URL {masked(url)}")
            self.targets.append((url, target))
        self.types = apprise.NotifyType

    def send(self, message: Message) -> list[tuple[str, bool, str]]:
        """(masked URL, delivered, reason) for each target."""
        kind = {"success": self.types.SUCCESS, "warning": self.types.WARNING,
                "failure": self.types.FAILURE}.get(message.severity, self.types.INFO)
        out = []
        for url, target in self.targets:
            del self.log[:]
            try:
                ok = bool(target.notify(body=message.body, title=message.title, notify_type=kind))
            except Exception as exc:  # a plugin's bug must not end the notifier
                ok, self.log[:] = False, [f"{type(exc).__name__}: {exc}"]
            reason = "" if ok else self.clean(self.log[-1] if self.log else "the target did not accept it")
            out.append((masked(url), ok, reason))
        return out

    def clean(self, text: str) -> str:
        return self.redact.clean(mask_urls(text, self.urls))


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


class Notifier(logging.Handler):
    def __init__(self, targets: Targets, *, title: str = "", summary: Callable[[datetime], Message | None] | None = None,
                 next_summary: Callable[[datetime], datetime | None] | None = None, health=None,
                 quiet: float = 2.0, longest: float = 10.0, queue_size: int = QUEUE_SIZE,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(logging.INFO)
        self.targets = targets
        self.digest = Digest(title=title, quiet=quiet, longest=longest)
        self.summary, self.next_summary = summary, next_summary
        self.health = health
        self.clock = clock
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.sent = self.failed = 0
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self.on_result: Callable[[bool], None] = lambda ok: None  # metrics count outcomes
        self.addFilter(targets.redact)

    # -- the posting side: never waits -----------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "event", None)
        if name not in NOTABLE or name in OWN or threading.current_thread() is self.thread:
            return
        try:
            self.queue.put_nowait((name, dict(getattr(record, "data", {}) or {}), record.levelno))
        except queue.Full:
            self.dropped += 1

    # -- the notifier's thread --------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = CLOSE_WITHIN) -> None:
        """Send what is left (within `timeout` seconds), then stop the thread."""
        self.closing.set()
        try:
            self.queue.put(None, timeout=timeout)  # wakes the thread
        except queue.Full:
            pass
        if self.thread.ident is not None:  # started
            self.thread.join(timeout)
        super().close()

    def _run(self) -> None:
        next_health = time.monotonic() + HEALTH_EVERY
        healthy = True
        due = None
        while True:
            if due is None and self.next_summary is not None:
                due = self.next_summary(self.clock())  # None until the service knows its replay zone
            now = time.monotonic()
            waits = [w for w in (self.digest.next_check(), next_health if self.health else None) if w is not None]
            timeout = max(0.0, min(waits) - now) if waits else 1.0
            if due is not None:
                timeout = min(timeout, max(0.0, (due - self.clock()).total_seconds()))
            try:
                item = self.queue.get(timeout=min(timeout, 60.0))
            except queue.Empty:
                item = ()
            if item:
                self.digest.add(item[0], item[1], time.monotonic(), item[2])
            if item is None or self.closing.is_set():  # the rest of the queue, then the last burst at once
                self._drain()
                self._deliver(self.digest.due(time.monotonic(), flush=True))
                return
            now = time.monotonic()
            if self.health is not None and now >= next_health:
                next_health = now + HEALTH_EVERY
                verdict = self.health.check()
                if verdict.ok != healthy and verdict.reason not in ("starting", "stopping"):
                    healthy = verdict.ok
                    self.digest.add("healthy" if healthy else "unhealthy", {"reason": verdict.reason}, now)
            if due is not None and self.clock() >= due:
                self._summary(due)
                due = None
            self._deliver(self.digest.due(time.monotonic()))

    def _drain(self) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item:
                self.digest.add(item[0], item[1], time.monotonic(), item[2])

    def _summary(self, due: datetime) -> None:
        try:
            message = self.summary(due) if self.summary else None
        except Exception as exc:  # the ledger may be unavailable: say so instead
            message = Message("summary", "daily summary", f"no summary: {type(exc).__name__}: {exc}", "warning")
        if message is not None:
            self._deliver([message])

    def _deliver(self, messages: list[Message]) -> None:
        if self.dropped and messages:
            dropped, self.dropped = self.dropped, 0
            event(logging.WARNING, "notify-dropped", count=dropped, reason="the notification queue was full")
        failures: list[str] = []
        for message in messages:
            message = Message(message.kind, self.targets.clean(message.title), self.targets.clean(message.body),
                              message.severity)
            results = self.targets.send(message)
            ok = all(delivered for _, delivered, _ in results)
            self.sent += ok
            self.failed += not ok
            self.on_result(ok)
            failures += [f"{url}: {reason}" for url, delivered, reason in results if not delivered]
        if failures:  # once per burst
            event(logging.WARNING, "notify-failed", messages=len(messages), reason="; ".join(sorted(set(failures))))


def send_test(urls: Sequence[str], env: Mapping[str, str], *, title: str = "anniversary-bot") -> list[tuple[str, bool, str]]:
    """`bot notify --test`: one message to each target; (masked URL, arrived, reason)."""
    if not urls:
        raise ConfigError("BOT_NOTIFY is not set: give it one or more Apprise URLs (see config.example.env)")
    targets = Targets(urls, env)
    now = datetime.now(UTC).astimezone()
    return targets.send(Message("test", f"{title}: test notification",
                                f"bot notify --test at {now:%Y-%m-%d %H:%M:%S %Z}: notifications reach you.", "info"))
