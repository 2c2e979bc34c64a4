"""Operations: nobody has to read the log. Every piece is off until its setting asks.

    notify.py    BOT_NOTIFY: Apprise notifications of problems and milestones (own thread, bounded queue)
    digest.py    which actions are worth a message; bursts become one message (pure)
    summary.py   BOT_NOTIFY_SUMMARY: the daily summary
    health.py    healthy or not, and why: /healthz, the systemd watchdog, "unhealthy" notifications
    metrics.py   Prometheus counters and gauges
    http.py      BOT_HTTP: /healthz, /metrics and the status page (bot.views.statuspage), on loopback by default
    systemd.py   READY=1, WATCHDOG=1, STOPPING=1 to $NOTIFY_SOCKET
    probe.py     the container's HEALTHCHECK

Notifications, metrics and JSON lines read the action lines (`bot.run.logs.event`)
as logging handlers: the posting path logs once and waits for none of them.
`Ops` wires them around `bot.run.service.run`: `starting()` before the service
starts (a missing extra or a port in use fails at once), `ready()` once the timer
is armed, `stopping()` on SIGTERM, `close()` at the end.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ops.health import Health
from bot.ops.systemd import Notify
from bot.run.logs import LOGGER, Redact, secrets_in, url_secrets
from bot.run.process import Around


class Ops(Around):
    def __init__(self, service, env=None) -> None:
        self.service = service
        self.settings = settings = service.settings
        self.health = Health(service)
        self.systemd = Notify(env)
        self.redact = Redact(secrets_in(settings.env, url_secrets(settings.ledger_url)))
        self.notifier = self.metrics = self.http = None
        self._handlers: list[logging.Handler] = []
        self.refresh = 30

    def clean(self, text: str) -> str:
        from bot.ops.notify import mask_urls

        return self.redact.clean(mask_urls(text, self.settings.notify))

    # -- the service's life ---------------------------------------------------------

    def starting(self) -> None:
        """Before the service starts. ConfigError: a missing extra, a port in use (nothing
        is left attached or listening then)."""
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        settings = self.settings
        if settings.http:
            from bot.ops.http import Endpoints, Server
            from bot.ops.metrics import Metrics

            self.metrics = Metrics(self.service, self.health)
            self._attach(self.metrics)
            self.http = Server(settings.http, Endpoints(self.health, self.metrics, self.page, self.clean, self.refresh))
            self.http.start()
        if settings.notify:
            from bot.ops.notify import Notifier, Targets

            self.notifier = Notifier(Targets(settings.notify, settings.env), title=settings.display,
                                     summary=self._summary if settings.notify_summary else None,
                                     next_summary=self._next_summary if settings.notify_summary else None,
                                     health=self.health)
            if self.metrics is not None:
                self.notifier.on_result = self.metrics.notified
            self._attach(self.notifier)
            self.notifier.start()

    def ready(self) -> None:
        """The timer is armed: READY=1, the watchdog pings, health answers."""
        service = self.service
        self.health.armed = True
        if self.notifier is not None:
            self.notifier.digest.title = self.title()
        interval = self.systemd.watchdog
        if self.systemd.enabled and interval:
            from apscheduler.triggers.interval import IntervalTrigger

            service.scheduler.add_job(self._watchdog, IntervalTrigger(seconds=interval), id="systemd-watchdog",
                                      misfire_grace_time=None, coalesce=True)
        if getattr(service, "standing_by", False):
            self.systemd.ready("standby: another process publishes")
            return
        due = service.engine.next_due()
        self.systemd.ready(f"armed, next due {due.isoformat()}" if due else "armed, nothing left to post")

    def _watchdog(self) -> None:
        """From the timer's own loop: a timer that is stuck or stopped no longer pings."""
        if self.health.check(ledger=False).ok:
            self.systemd.ping()

    def stopping(self) -> None:
        self.systemd.stopping()

    def close(self) -> None:
        """After the service stopped: the last notifications (a few seconds at most), then the rest."""
        if self.notifier is not None:
            self.notifier.close()
        if self.http is not None:
            self.http.close()
        logger = logging.getLogger(LOGGER)
        for handler in self._handlers:
            logger.removeHandler(handler)
        self._handlers.clear()

    def _attach(self, handler: logging.Handler) -> None:
        handler.addFilter(self.redact)
        logger = logging.getLogger(LOGGER)
        logger.addHandler(handler)
        if logger.level > logging.INFO or logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        self._handlers.append(handler)

    # -- what the pieces ask -------------------------------------------------------------

    def title(self) -> str:
        engine = getattr(self.service, "engine", None)
        config = engine.source.config if engine is not None and getattr(engine, "source", None) else None
        return (config.title if config is not None else "") or self.settings.display

    def _next_summary(self, now: datetime) -> datetime | None:
        from bot.ops.summary import next_summary

        engine = getattr(self.service, "engine", None)
        if engine is None or not self.health.armed:
            return None
        return next_summary(now, self.settings.notify_summary, engine.timeline.zone)

    def _summary(self, now: datetime):
        from bot.ops.summary import summary

        if getattr(self.service, "standing_by", False):
            return None  # the active process tells it
        verdict = self.health.check()
        return summary(self.service.engine, now, title=self.title(), health="ok" if verdict.ok else verdict.reason)

    def page(self) -> str:
        from bot.ops.digest import where
        from bot.views.status import report
        from bot.views.statuspage import render

        service = self.service
        engine = getattr(service, "engine", None)
        health = self.health.check().body()
        if engine is None or engine.ledger is None or not self.health.armed:
            from html import escape

            return (f"<!doctype html><title>starting</title><p>{escape(self.settings.display)}: "
                    f"{escape(health.get('reason', 'starting'))}</p>")
        now = service.clock()
        zone = engine.timeline.zone
        data = report(engine.timeline, engine.source.config, engine.ledger, now)
        return render(data, title=self.title(), zone=zone.key, health=health, refresh=self.refresh,
                      now=now.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                      source_of=lambda entry_id: where(engine.source_of(entry_id)), clean=self.clean)
