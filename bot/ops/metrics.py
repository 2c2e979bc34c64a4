"""Prometheus metrics (prometheus_client; extra `http`), served on /metrics.

Counters are a logging handler on the `bot` logger: each action line
(`bot.run.logs.event`) counts where it happens, without a call in the posting
path. Gauges are read at each scrape from the service itself: the ledger's
counts (what `bot status` shows), the seconds until the next due entry,
health. Labels are states, networks, account keys and outcomes: never a
credential or an entry's text.

    bot_deliveries_total{state,network,account}     posted, failed, uncertain, missed, skipped, not_recorded
    bot_publish_lateness_seconds{network}           histogram: due instant to the post's call
    bot_retries_total{kind,network,account}         post, switch, lookup
    bot_persona_switches_total{outcome,network,account}  switched, failed, uncertain
    bot_reconciled_total{outcome,network,account}   posted, missed, absent, unknown
    bot_reloads_total, bot_ledger_errors_total, bot_internal_errors_total
    bot_notifications_total{outcome}                sent, failed
    bot_ledger_deliveries{state}                    the ledger now, as `bot status` counts it
    bot_next_due_seconds                            until the next due delivery (absent: none left)
    bot_pending_deliveries, bot_healthy, bot_start_time_seconds
    bot_active                                      PostgreSQL ledger: 1 active, 0 standby
"""

from __future__ import annotations

import logging
import time

from bot.errors import BotError, ConfigError

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


def prometheus():
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError("BOT_HTTP needs prometheus-client: pip install 'anniversary-bot[http]'") from None
    return prometheus_client


class Metrics(logging.Handler):
    def __init__(self, service=None, health=None) -> None:
        super().__init__(logging.INFO)
        pc = prometheus()
        from prometheus_client.core import CollectorRegistry

        pc.disable_created_metrics()  # the *_created series only double the output

        self.registry = registry = CollectorRegistry(auto_describe=True)
        lane = ["network", "account"]
        self.deliveries = pc.Counter("bot_deliveries", "Deliveries settled by this process, by state",
                                     ["state", *lane], registry=registry)
        self.lateness = pc.Histogram("bot_publish_lateness_seconds", "Seconds from a delivery's due instant to its post",
                                     ["network"], buckets=LATENESS_BUCKETS, registry=registry)
        self.retries = pc.Counter("bot_retries", "Calls tried again after a transient failure",
                                  ["kind", *lane], registry=registry)
        self.switches = pc.Counter("bot_persona_switches", "Persona switches by outcome", ["outcome", *lane],
                                   registry=registry)
        self.reconciled = pc.Counter("bot_reconciled", "Uncertain deliveries looked up, by outcome", ["outcome", *lane],
                                     registry=registry)
        self.reloads = pc.Counter("bot_reloads", "Feed reloads after file changes", registry=registry)
        self.ledger_errors = pc.Counter("bot_ledger_errors", "Ledger reads or writes that failed", registry=registry)
        self.internal_errors = pc.Counter("bot_internal_errors", "Unexpected errors caught in a lane", registry=registry)
        self.notifications = pc.Counter("bot_notifications", "Notifications by outcome", ["outcome"], registry=registry)
        pc.ProcessCollector(registry=registry)
        if service is not None:
            registry.register(ServiceCollector(service, health))

    def notified(self, ok: bool) -> None:
        self.notifications.labels("sent" if ok else "failed").inc()

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "event", None)
        data = getattr(record, "data", None)
        if name is None or not isinstance(data, dict):
            return
        lane = (str(data.get("platform", "")), str(data.get("account", "")))
        if name in ("posted", "failed", "missed", "skipped", "not-recorded") or (
                name == "uncertain" and data.get("kind", "delivery") == "delivery"):
            self.deliveries.labels(name.replace("-", "_"), *lane).inc(int(data.get("count", 1)))
            if name == "posted" and "late_ms" in data:
                self.lateness.labels(lane[0]).observe(max(0.0, float(data["late_ms"]) / 1000))
        if name in ("retry", "switch-retry", "reconcile-retry"):
            self.retries.labels({"retry": "post", "switch-retry": "switch"}.get(name, "lookup"), *lane).inc()
        if name in ("switched", "switch-failed") or (name == "uncertain" and data.get("kind") == "switch"):
            self.switches.labels({"switched": "switched", "switch-failed": "failed"}.get(name, "uncertain"), *lane).inc()
        if name in ("reconciled", "reconcile-unknown"):
            self.reconciled.labels(str(data.get("outcome", "unknown")), *lane).inc()
        if name == "reloaded":
            self.reloads.inc()
        if name in ("ledger-error", "tick-failed", "not-recorded"):
            self.ledger_errors.inc()
        if name == "internal-error":
            self.internal_errors.inc()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition the scraper asks for (OpenMetrics or the text format 0.0.4), as
        prometheus_client's own server chooses it."""
        from prometheus_client.exposition import choose_encoder

        encode, kind = choose_encoder(accept)
        return encode(self.registry), kind


class ServiceCollector:
    """Gauges read from the running service at each scrape."""

    def __init__(self, service, health) -> None:
        self.service = service
        self.health = health
        self.started = time.time()

    def describe(self):
        return []  # collected on demand: the service may not have started yet

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("bot_start_time_seconds", "Unix time the service started", value=self.started)
        if self.health is not None:
            yield GaugeMetricFamily("bot_healthy", "1 when /healthz answers 200", value=float(self.health.check().ok))
        if getattr(self.service, "leadership", None) is not None:  # a PostgreSQL ledger: one process active
            yield GaugeMetricFamily("bot_active", "1 when this process is the active one (0: standby)",
                                    value=float(not self.service.standing_by))
        engine = getattr(self.service, "engine", None)
        if engine is None or engine.ledger is None:
            return
        try:
            counts = engine.ledger.counts()
        except BotError:
            counts = None
        if counts is not None:
            family = GaugeMetricFamily("bot_ledger_deliveries", "Deliveries in the ledger by state (as bot status counts them)",
                                       labels=["state"])
            for state, n in sorted(counts.items()):
                family.add_metric([state], n)
            yield family
        with engine._lock:
            pending = len(engine.items) - engine.cursor
        yield GaugeMetricFamily("bot_pending_deliveries", "Deliveries of this run not yet due", value=pending)
        due = engine.next_due()
        if due is not None:
            seconds = (due - self.service.clock()).total_seconds()
            yield GaugeMetricFamily("bot_next_due_seconds", "Seconds until the next due delivery", value=seconds)
