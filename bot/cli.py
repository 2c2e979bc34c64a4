"""The `bot` command line. Thin: options become `Settings`, the stages do the work."""

from __future__ import annotations

import os
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from bot import __version__
from bot.errors import ConfigError, LedgerError


class State:
    def __init__(self) -> None:
        self.posts: str | None = None


def clock() -> datetime:
    """The one place check, preview and status read the wall clock: the default years_later
    and the warning for entries in the past depend on it. BOT_NOW (an ISO instant) stands
    in for it, to see a feed as it will be checked on another day (and for tests)."""
    fixed = os.environ.get("BOT_NOW", "").strip()
    if fixed:
        try:
            moment = datetime.fromisoformat(fixed)
        except ValueError:
            raise click.UsageError(f"BOT_NOW must be an ISO date-time, not {fixed!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def settings_for(ctx: click.Context, *posts: str | None, **options):
    """Settings from the command's options: the first feed folder given (the
    command's --posts, its DIR, the group's --posts), then BOT_POSTS, then ./posts."""
    from bot.settings import Settings

    state = ctx.find_object(State)
    folder = next((p for p in (*posts, state and state.posts) if p), None)
    try:
        return Settings.resolve(os.environ, posts=folder, **options)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def folder_argument(f):
    return click.argument("folder", required=False, metavar="[DIR]")(f)


def posts_option(f):
    """`--posts DIR` on a subcommand; it beats the group's `--posts`, which beats BOT_POSTS."""
    return click.option("--posts", "posts", metavar="DIR", help="Feed folder (default: $BOT_POSTS or ./posts).")(f)


def years_option(f):
    return click.option("--years-later", type=click.IntRange(1, 5000), metavar="N", help="Replay N years after the history (beats BOT_YEARS_LATER and feed.yaml).")(f)


def window_options(f):
    f = click.option("--account", "accounts", multiple=True, metavar="KEY", help="Only this account (repeatable).")(f)
    f = click.option("--until", "end", metavar="ISO", help="Last replay date or date-time (replay zone, inclusive).")(f)
    return click.option("--from", "start", metavar="ISO", help="First replay date or date-time (replay zone, inclusive).")(f)


def ledger_option(f):
    return click.option("--ledger", metavar="PATH|URL", help="Ledger: a SQLite file or a postgresql:// URL (default: $BOT_LEDGER or ./state/ledger.sqlite3).")(f)


def load_or_fail(settings):
    """The feed, checked, with the years_later its ledger keeps (if any) and a warning when an
    explicit years_later puts entries in the past."""
    from bot.load import feed_cache, load
    from bot.run.ledger import kept_years_later

    now = clock()
    try:  # frozen: the feed lives until the command ends
        loaded = load(settings, now=now, cache=feed_cache(settings), freeze=True, kept=kept_years_later(settings.ledger_target))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if past := loaded.in_the_past(settings, now):
        from bot.load import sort_key

        loaded.diagnostics = sorted(loaded.diagnostics + past, key=sort_key(loaded.feed))
    return loaded


def echo_diagnostics(loaded, *, err: bool, summary: bool, verbose: bool = False) -> None:
    """One line per problem (warnings of one kind in one file folded, unless `verbose`), then the summary."""
    from bot.feed.diagnostics import folded, summary as summarize

    for line in folded(loaded.diagnostics, verbose=verbose):
        click.echo(line, err=err)
    if summary:
        click.echo(summarize(loaded.diagnostics, loaded.feed.files, len(loaded.feed.entries)), err=err)


def echo_span(loaded) -> None:
    """`replays FIRST .. LAST, years_later N`, on stderr: stdout stays the located lines and the summary."""
    if span := loaded.span():
        click.echo(span, err=True)


def open_ledger_readonly(settings):
    """The ledger opened read-only, or None when there is none yet."""
    from bot.run.ledger import ledger_exists, open_ledger

    if not ledger_exists(settings.ledger_target):
        return None
    try:
        return open_ledger(settings.ledger_target, readonly=True)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bot")
@click.option("--posts", metavar="DIR", help="Feed folder (default: $BOT_POSTS or ./posts).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read settings from this file (default: ./.env).")
@click.pass_context
def cli(ctx: click.Context, posts: str | None, env_file: str | None) -> None:
    """Replay a historical live feed on its anniversaries."""
    if env_file and not Path(env_file).is_file():
        raise click.BadParameter(f"no such file: {env_file}", param_hint="--env-file")
    dotenv = Path(env_file) if env_file else Path.cwd() / ".env"
    if dotenv.exists():  # python-dotenv loads only when there is something to read
        from dotenv import load_dotenv

        load_dotenv(dotenv, override=False)
    ctx.ensure_object(State).posts = posts


@cli.command()
@folder_argument
@posts_option
@years_option
@click.option("--credentials", is_flag=True, help="Also report accounts whose publisher lacks credentials.")
@click.option("--verbose", is_flag=True, help="List every warning (without it, warnings of one kind in one file fold into one line).")
@ledger_option
@click.pass_context
def check(ctx, folder, posts, years_later, credentials, verbose, ledger):
    """Check the feed and report every problem, one line each."""
    settings = settings_for(ctx, posts, folder, years_later=years_later, ledger=ledger)
    loaded = load_or_fail(settings)
    if credentials and loaded.feed.config is not None:
        from bot.feed.credentials import missing

        loaded.diagnostics.extend(missing(loaded.feed.config, settings.env))
    handle = open_ledger_readonly(settings)
    if handle is not None:
        from bot.views.status import edited_after_posting

        with handle:
            loaded.diagnostics.extend(edited_after_posting(loaded.feed.entries, handle.posted_hashes()))
    echo_diagnostics(loaded, err=False, summary=True, verbose=verbose)
    echo_span(loaded)
    ctx.exit(0 if loaded.ok else 1)


@cli.command()
@folder_argument
@posts_option
@years_option
@window_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True, help="Output format.")
@click.option("--out", metavar="FILE", help="With --format html: write the page here ('-': stdout; default: preview.html).")
@click.option("--serve", is_flag=True, help="Serve the HTML preview on 127.0.0.1; it reloads when a feed file changes.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve (0: any free port).")
@click.pass_context
def preview(ctx, folder, posts, years_later, start, end, accounts, fmt, out, serve, port):
    """Show the feed as it will go out."""
    from bot.views import preview as views

    settings = settings_for(ctx, posts, folder, years_later=years_later, start=start, end=end, accounts=accounts)
    if out and (serve or fmt != "html"):
        raise click.UsageError("--out goes with --format html (and not with --serve)")
    if serve:
        from bot.views.server import serve as serve_page

        ctx.exit(serve_page(settings.posts, lambda live: views.html_page(load_or_fail(settings), settings, live=live), port=port))
    loaded = load_or_fail(settings)
    echo_diagnostics(loaded, err=True, summary=not loaded.ok)  # warnings, or every problem and the summary
    echo_span(loaded)
    if loaded.timeline is None:  # feed.yaml is unusable: nothing to show
        ctx.exit(1)
    try:
        events = views.chosen(loaded, settings)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if not events and loaded.ok:
        click.echo(views.nothing_chosen(loaded, settings), err=True)
    if fmt == "html":
        target = out or "preview.html"
        try:
            path = views.write_html(loaded, events, target)
        except OSError as exc:
            raise click.FileError(target, exc.strerror) from None
        if path:
            click.echo(path)
    elif fmt == "json":
        views.write_json(sys.stdout, loaded, events)
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        for line in views.text(loaded, events, click.style if color else None):
            click.echo(line, color=color)
    ctx.exit(0 if loaded.ok else 1)  # the valid rest is shown either way; problems make it exit 1


def parse_start(value: str | None, now: datetime, *, resuming: bool = False) -> datetime | None:
    """--start-at: `now`, an offset from now (`+10s`, `+5m`, `+2h`), or an ISO date-time
    (without an offset: this machine's local time). A moment past by more than a second is
    refused, unless the rehearsal is `resuming` (its --ledger exists: the same start, again):
    a new rehearsal that starts in the past would only record its first entries missed."""
    if value is None:
        return None
    text = value.strip()
    if text == "now":
        return now
    if match := re.fullmatch(r"\+(\d+(?:\.\d+)?)(s|m|h)", text):
        amount, unit = float(match[1]), match[2]
        return now + timedelta(seconds=amount * {"s": 1, "m": 60, "h": 3600}[unit])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not now, +10s / +5m / +2h or an ISO date-time", param_hint="--start-at") from None
    moment = moment if moment.tzinfo else moment.astimezone()  # naive: this machine's local time
    if moment < now - timedelta(seconds=1) and not resuming:
        raise click.BadParameter(
            f"{value} is in the past (it is {now.astimezone(moment.tzinfo):%Y-%m-%dT%H:%M:%S%z}): a rehearsal starting "
            "then would record its first entries missed. Use now, +10s or a later time (or --ledger of the rehearsal "
            "to resume)", param_hint="--start-at")
    return moment


@cli.command()
@folder_argument
@posts_option
@click.option("--dry-run", is_flag=True, help="Publish every account through the console publisher.")
@years_option
@ledger_option
@click.option("--start-at", metavar="WHEN", help="Rehearsal: the first entry falls at this instant (now, +10s, +5m or ISO).")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), metavar="N", help="Rehearsal: divide every gap between entries by N.")
@window_options
@click.option("--verbose", "-v", is_flag=True, help="With --dry-run: every action line on stderr too (a dry run shows only problems there).")
@click.pass_context
def run(ctx, folder, posts, dry_run, years_later, ledger, start_at, speed, start, end, accounts, verbose):
    """Post every entry at its anniversary until stopped (SIGTERM or SIGINT)."""
    import logging

    from bot.run.logs import setup, url_secrets
    from bot.run.process import run as run_service
    from bot.run.service import RunMode, Service

    settings = settings_for(ctx, posts, folder, years_later=years_later, ledger=ledger, start=start, end=end, accounts=accounts)
    # a dry run shows its posts on stdout, once; its action lines only when asked
    setup(settings.env, level=logging.WARNING if dry_run and not verbose else logging.INFO, fmt=settings.log_format,
          secrets=url_secrets(settings.ledger_url))
    resuming = settings.ledger_given and (settings.postgres or settings.ledger.exists())
    mode = RunMode(dry_run=dry_run, start_at=parse_start(start_at, datetime.now(UTC), resuming=resuming), speed=speed)
    from bot.ops import Ops

    service = Service(settings, mode)
    ctx.exit(run_service(service, Ops(service), program=_AS_PROGRAM))


@cli.command()
@folder_argument
@posts_option
@years_option
@ledger_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
@click.pass_context
def status(ctx, folder, posts, years_later, ledger, fmt):
    """Show what was posted, missed, failed or uncertain, and what is next."""
    import json

    from bot.views.status import report, text

    settings = settings_for(ctx, posts, folder, years_later=years_later, ledger=ledger)
    loaded = load_or_fail(settings)
    if loaded.timeline is None:
        echo_diagnostics(loaded, err=True, summary=True)
        ctx.exit(1)
    handle = open_ledger_readonly(settings)
    try:
        data = report(loaded.timeline, loaded.feed.config, handle, clock())
    finally:
        if handle is not None:
            handle.close()
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for line in text(data):
            click.echo(line)


@cli.command()
@click.argument("entry_id", metavar="ID")
@click.option("--posted", "posted", flag_value=True, default=None, help="It did go out.")
@click.option("--not-posted", "posted", flag_value=False, help="It did not go out.")
@click.option("--remote-id", metavar="RID", help="The post's id on the network (with --posted).")
@click.option("--platform", metavar="NAME", help="Only this network's delivery of the entry.")
@ledger_option
@click.pass_context
def resolve(ctx, entry_id, posted, remote_id, platform, ledger):
    """Settle an uncertain entry by hand."""
    from bot.run.ledger import ledger_exists, open_ledger

    if posted is None:
        raise click.UsageError("say --posted or --not-posted")
    if remote_id and not posted:
        raise click.UsageError("--remote-id goes with --posted")
    settings = settings_for(ctx, ledger=ledger)
    if not ledger_exists(settings.ledger_target):
        raise click.ClickException(f"no ledger at {settings.ledger}")
    try:
        with open_ledger(settings.ledger_target, lock=False) as handle:
            rows = handle.resolve(entry_id, posted=posted, remote_id=remote_id, now=clock(), network=platform)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    for row in rows:
        click.echo(f"{row.entry_id} on {row.network}: {row.state}" + (f" (remote id {row.remote_id})" if row.remote_id else ""))


@cli.command()
@folder_argument
@click.option("--force", is_flag=True, help="Overwrite feed.yaml and the sample post file if they exist.")
@click.pass_context
def init(ctx, folder, force):
    """Write a small feed, every key explained, to start from."""
    from bot.feed.template import write

    settings = settings_for(ctx, folder)
    try:
        written = write(settings.posts, force=force)
    except FileExistsError as exc:
        raise click.ClickException(f"{exc.args[0]} exists; nothing written (--force overwrites it)") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the feed: {exc.strerror}: {exc.filename}") from None
    click.echo(f"wrote {', '.join(str(p) for p in written)}; next: bot check {settings.display}")


@cli.command()
@click.option("--test", "test", is_flag=True, help="Send one test message to every BOT_NOTIFY target.")
@click.pass_context
def notify(ctx, test):
    """Notifications (BOT_NOTIFY): --test sends one message and says whether it arrived."""
    from bot.ops.notify import send_test

    if not test:
        raise click.UsageError("say --test (bot notify --test sends one message to every BOT_NOTIFY target)")
    settings = settings_for(ctx)
    try:
        results = send_test(settings.notify, settings.env)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for url, arrived, reason in results:
        click.echo(f"{url}: {'arrived' if arrived else 'not delivered'}{f' ({reason})' if reason else ''}")
    ctx.exit(0 if all(arrived for _, arrived, _ in results) else 1)


@cli.command()
@click.option("--for", "target", type=click.Choice(["any", "feed", "posts"]), default="any", show_default=True, help="Schema of feed.yaml, of a post file, or of either (chosen by content).")
def schema(target):
    """Print a JSON Schema of feed.yaml and post files, for editors."""
    from bot.feed.schema import render

    click.echo(render(target), nl=False)


def _register_import() -> None:
    from bot.importers.cli import import_group

    cli.add_command(import_group)


_register_import()


_AS_PROGRAM = False  # main() runs: this process ends with the command (not click's CliRunner)


def main() -> None:
    global _AS_PROGRAM
    _AS_PROGRAM = True
    try:
        cli(prog_name="bot")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        # The work is done: a SIGTERM that arrives while the process winds down (a rehearsal
        # that ended by itself) changes nothing. Ignored rather than left to Python, whose
        # interpreter shutdown would end the process with -15.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
