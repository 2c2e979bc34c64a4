"""Secrets engine: every command runs with known fake secrets in its environment and
in `./.env`, error paths included (the fake X server answers 401, 403, 429, 5xx,
hangs, resets, bad JSON); no secret may appear in any output, log line, error or
the ledger, neither as is nor URL-encoded.

The environment holds the app keys and alpha's tokens; `.env` holds beta's tokens
(so `.env` really is read) and more secrets nothing should ever print.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.reliability import feeds
from tests.reliability.common import Figures, HookedX
from tests.support.env import APP_SECRETS, account_secrets, x_env as base_env, token
from tests.support.ledger import ledger_rows
from tests.support.proc import BotProcess as Bot, run_command, tracebacks

DOTENV_ONLY = {
    "MASTODON_ACCESS_TOKEN": "mastodon-token-ZZ-LEAKCHECK-M",
    "BLUESKY_APP_PASSWORD": "bsky-pass-ZZ-LEAKCHECK-B",
    "SOME_PASSWORD": "p@ss w0rd&ZZ-LEAKCHECK-P",
}


@dataclass
class LeakReport:
    commands: list[str] = field(default_factory=list)  # each command line tried
    leaks: list[str] = field(default_factory=list)  # "command: secret NAME in stdout"
    tracebacks: int = 0
    peak_rss: int = 0
    problems: list[str] = field(default_factory=list)  # commands that did not behave
    seconds: float = 0.0

    def figures(self) -> Figures:
        return Figures("secrets", cases=len(self.commands), leaked=len(self.leaks), tracebacks=self.tracebacks,
                       peak_rss=self.peak_rss, seconds=self.seconds,
                       notes=[f"{len(self.commands)} commands: " + "; ".join(self.commands)],
                       problems=self.leaks + self.problems)


def forms(value: str) -> set[str]:
    """The ways a secret could show up: as is, URL-encoded, form-encoded."""
    return {value, quote(value, safe=""), quote_plus(value)}


def find_leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if any(f in text for f in forms(value))]


def _spec() -> feeds.Spec:
    accounts = {"alpha": "p-alpha", "beta": "p-beta"}
    personas = {"p-alpha": "Alpha Paper", "p-beta": "Beta Paper", "stormy": "Stormy Paper"}
    items = [feeds.Item(f"a{i}", "alpha", i * 0.3, f"alpha post {i}") for i in range(8)]
    items += [feeds.Item(f"b{i}", "beta", i * 0.3 + 0.1, f"beta post {i}", storm="stormy" if i == 2 else None)
              for i in range(8)]
    items.sort(key=lambda i: i.minute)
    return feeds.Spec(accounts, personas, items)


def run_leaks(workdir: Path) -> LeakReport:
    started = time.monotonic()
    report = LeakReport()
    spec = _spec()
    feeds.write(spec, workdir / "posts")
    ledger = workdir / "ledger.sqlite3"
    diary = workdir / "diary.txt"
    diary.write_text("1917-11-07 10:00 The Winter Palace is quiet.\n1917-11-07 11:00 r Still quiet.\nnot a line\n")
    with HookedX() as fake:
        env = base_env(fake.base_url, ["alpha"], X_TIMEOUT="1", BOT_RETRIES="1", BOT_BACKOFF="0.05",
                       BOT_DAILY_LIMIT="1000")
        dotenv = {**account_secrets("beta"), **DOTENV_ONLY, "X_API_KEY": "shadowed-appkey-ZZ-LEAKCHECK-X"}
        (workdir / ".env").write_text("".join(f'{k}="{v}"\n' for k, v in dotenv.items()))
        secrets = {**APP_SECRETS, **account_secrets("alpha"), **dotenv}
        secrets["X_API_KEY (.env)"] = secrets.pop("X_API_KEY")
        secrets["X_API_KEY"] = APP_SECRETS["X_API_KEY"]

        def command(args, expect: int | None = 0, env_=None) -> str:
            code, out, err, rss = run_command(args, env_ or env, workdir)
            _account(report, "bot " + " ".join(args), out + err, code, expect, rss, secrets)
            return out + err

        command(["check", "--posts", "posts"])
        command(["check", "--posts", "posts", "--credentials"])
        command(["preview", "--posts", "posts"])
        command(["preview", "--posts", "posts", "--format", "json"])
        command(["check", "--posts", "nowhere"], expect=None)
        command(["--env-file", "missing.env", "check"], expect=2)
        (workdir / "empty.env").write_text("")  # beta's tokens missing: run must name them, not print others
        missing = command(["--env-file", "empty.env", "run", "--posts", "posts", "--start-at", "+1s",
                           "--ledger", str(workdir / "nobeta.sqlite3")], expect=1)
        if "X_BETA_ACCESS_TOKEN" not in missing:
            report.problems.append("bot run without beta's tokens did not name them")
        command(["import", "lines", str(diary), "--out", "imported", "--account", "alpha"], expect=None)

        # the run: every error path of the X publisher on both accounts
        for who in ("alpha", "beta"):
            t = token(who)
            fake.fail("401", path="/2/tweets", token=t)
            fake.fail("403_duplicate", path="/2/tweets", token=t)
            fake.fail("500", 2, path="/2/tweets", token=t)
            fake.fail("hang", path="/2/tweets", token=t, hang_seconds=2)
            fake.fail("429", path="/2/tweets", token=t, reset_in=1)
            fake.fail("reset_after_read", path="/2/tweets", token=t)
            fake.fail("malformed_json", path="/2/tweets", token=t)
            fake.fail("403_453", path="/1.1/account/update_profile.json", token=t)
        bot = Bot(["run", "--posts", "posts", "--start-at", "+2.5s", "--speed", "60", "--ledger", str(ledger)],
                  env, workdir, name="leak-run")
        try:
            bot.wait_for(lambda: len(ledger_rows(ledger)) >= len(spec.items)
                         and all(r.state != "claimed" for r in ledger_rows(ledger).values()), 40, "every entry settled")
        except AssertionError as exc:
            report.problems.append(f"bot run: {str(exc).splitlines()[0]}")
        bot.terminate()
        _account(report, "bot run (X faults)", bot.stdout() + bot.stderr(), bot.code, 0, bot.peak_rss, secrets)
        rows = ledger_rows(ledger)
        ledger_text = "\n".join(f"{r.state} {r.reason} {r.remote_id}" for r in rows.values())
        report.leaks += [f"ledger reasons: {name}" for name in find_leaks(ledger_text, secrets)]
        if not any(r.state == "failed" and "401" in (r.reason or "") for r in rows.values()):
            report.problems.append("bot run: no entry failed with the 401 (the error paths were not exercised)")

        command(["status", "--posts", "posts", "--ledger", str(ledger)])
        command(["status", "--posts", "posts", "--ledger", str(ledger), "--format", "json"])
        uncertain = sorted(i for i, r in rows.items() if r.state == "uncertain")
        if uncertain:
            command(["resolve", uncertain[0], "--posted", "--remote-id", "123", "--ledger", str(ledger)])
        command(["resolve", "no-such-entry", "--not-posted", "--ledger", str(ledger)], expect=1)
        dry = Bot(["run", "--dry-run", "--posts", "posts", "--start-at", "+1.5s", "--speed", "600"], env, workdir,
                  name="leak-dry")
        try:
            dry.wait_for(lambda: dry.stdout().count("post ") >= len(spec.items), 20, "the dry run")
        except AssertionError as exc:
            report.problems.append(f"bot run --dry-run: {str(exc).splitlines()[0]}")
        dry.terminate()
        _account(report, "bot run --dry-run", dry.stdout() + dry.stderr(), dry.code, 0, dry.peak_rss, secrets)
    report.seconds = time.monotonic() - started
    return report


def _account(report: LeakReport, name: str, text: str, code, expect, rss: int, secrets: dict[str, str]) -> None:
    report.commands.append(name)
    report.leaks += [f"{name}: {secret}" for secret in find_leaks(text, secrets)]
    report.tracebacks += tracebacks(text)
    report.peak_rss = max(report.peak_rss, rss)
    if expect is not None and code != expect:
        report.problems.append(f"{name}: exit {code}, expected {expect}: {text.strip()[-200:]}")
