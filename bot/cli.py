"""The `bot` command line. Thin: parse options, call the modules, print."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, time
from pathlib import Path

import click

from bot import __version__
from bot.errors import ConfigError


class State:
    def __init__(self) -> None:
        self.posts: str | None = None


def clock() -> datetime:
    """The one place the CLI reads the wall clock."""
    return datetime.now(UTC)


def posts_option(f):
    """`--posts DIR` on a subcommand; it beats the group's `--posts`, which beats BOT_POSTS."""
    return click.option("--posts", "posts", metavar="DIR", help="Feed folder (default: $BOT_POSTS or ./posts).")(f)


def resolve_posts(ctx: click.Context, *candidates: str | None) -> str:
    for value in candidates:
        if value:
            return value
    state = ctx.find_object(State)
    return (state and state.posts) or os.environ.get("BOT_POSTS") or "posts"


def years_option(f):
    return click.option("--years-later", type=click.IntRange(1, 5000), metavar="N", help="Replay N years after the history (beats BOT_YEARS_LATER and feed.yaml).")(f)


def load_or_fail(posts: str, years_later: int | None, cache=None):
    from bot.speed.cache import ParseCache, cache_folder
    from bot.load import load

    cache = cache or ParseCache(cache_folder(os.environ))
    try:
        return load(posts, posts, now=clock(), years_later=years_later, parse_files=cache.parse_files,
                    build_timeline=cache.build_timeline, freeze=True)  # the feed lives until the command ends
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def echo_diagnostics(loaded, *, err: bool, summary: bool) -> None:
    from bot.feed.diagnostics import summary as summarize

    for diagnostic in loaded.diagnostics:
        click.echo(str(diagnostic), err=err)
    if summary:
        click.echo(summarize(loaded.diagnostics, loaded.feed.files, len(loaded.feed.entries)), err=err)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bot")
@click.option("--posts", metavar="DIR", help="Feed folder (default: $BOT_POSTS or ./posts).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read settings from this file (default: ./.env).")
@click.pass_context
def cli(ctx: click.Context, posts: str | None, env_file: str | None) -> None:
    """Replay a historical live feed on its anniversaries."""
    if env_file and not Path(env_file).is_file():
        raise click.BadParameter(f"no such file: {env_file}", param_hint="--env-file")
    settings = Path(env_file) if env_file else Path.cwd() / ".env"
    if settings.exists():  # python-dotenv loads only when there is something to read
        from dotenv import load_dotenv

        load_dotenv(settings, override=False)
    ctx.ensure_object(State).posts = posts


@cli.command()
@click.argument("folder", required=False, metavar="[DIR]")
@posts_option
@years_option
@click.option("--credentials", is_flag=True, help="Also report accounts whose publisher lacks credentials.")
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH", help="Warn about posted entries edited since (default: $BOT_LEDGER or ./state/ledger.sqlite3, when it exists).")
@click.pass_context
def check(ctx, folder, posts, years_later, credentials, ledger):
    """Check the feed and report every problem, one line each."""
    posts = resolve_posts(ctx, posts, folder)
    loaded = load_or_fail(posts, years_later)
    if credentials and loaded.feed.config is not None:
        from bot.feed.credentials import missing

        loaded.diagnostics.extend(missing(loaded.feed.config, os.environ))
    handle = open_ledger_readonly(ledger)
    if handle is not None:
        from bot.views.status import edited_after_posting

        with handle:
            loaded.diagnostics.extend(edited_after_posting(loaded.feed.entries, handle.posted_hashes()))
    echo_diagnostics(loaded, err=False, summary=True)
    ctx.exit(0 if loaded.ok else 1)


def parse_bound(value: str | None, zone, *, end: bool) -> datetime | None:
    """ISO date or date-time in the replay zone; a bare date covers its whole day."""
    if value is None:
        return None
    try:
        if "T" in value or " " in value.strip():
            moment = datetime.fromisoformat(value)
        else:
            day = datetime.fromisoformat(value).date()
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def chosen(loaded, start: str | None, end: str | None, accounts):
    """The events `preview` shows: --from/--until (replay zone) and --account applied."""
    from bot.views.text import select

    timeline = loaded.timeline
    unknown = [a for a in accounts if a not in loaded.feed.config.accounts]
    if unknown:
        raise click.BadParameter(f"unknown account {unknown[0]!r}", param_hint="--account")
    return select(
        timeline,
        start=parse_bound(start, timeline.zone, end=False),
        end=parse_bound(end, timeline.zone, end=True),
        accounts=accounts,
    )


@cli.command()
@posts_option
@years_option
@click.option("--from", "start", metavar="ISO", help="First replay date or date-time to show (replay zone, inclusive).")
@click.option("--until", "end", metavar="ISO", help="Last replay date or date-time to show (inclusive).")
@click.option("--account", "accounts", multiple=True, metavar="KEY", help="Only this account (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True, help="Output format.")
@click.option("--out", metavar="FILE", help="With --format html: write the page here ('-': stdout; default: preview.html).")
@click.option("--serve", is_flag=True, help="Serve the HTML preview on 127.0.0.1; it reloads when a feed file changes.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve (0: any free port).")
@click.pass_context
def preview(ctx, posts, years_later, start, end, accounts, fmt, out, serve, port):
    """Show the feed as it will go out."""
    from bot.views.text import json_lines, text_lines, write_lines

    posts = resolve_posts(ctx, posts)
    if out and (serve or fmt != "html"):
        raise click.UsageError("--out goes with --format html (and not with --serve)")
    if serve:
        from bot.views.html import page_for
        from bot.views.server import serve as serve_page

        parse_bound(start, UTC, end=False), parse_bound(end, UTC, end=True)  # bad dates: a usage error now

        def build(live):
            return page_for(load_or_fail(posts, years_later), lambda loaded: chosen(loaded, start, end, accounts), live=live)

        ctx.exit(serve_page(Path(posts), build, port=port))
    from bot.speed.cache import ParseCache, cache_folder

    cache = ParseCache(cache_folder(os.environ))
    loaded = load_or_fail(posts, years_later, cache)
    if not loaded.ok:
        echo_diagnostics(loaded, err=True, summary=True)
        ctx.exit(1)
    echo_diagnostics(loaded, err=True, summary=False)  # warnings only
    timeline = loaded.timeline
    config = loaded.feed.config
    events = chosen(loaded, start, end, accounts)
    if fmt == "html":
        from bot.views.html import render, write

        try:
            path = write(render(loaded, events), out or "preview.html")
        except OSError as exc:
            raise click.FileError(out or "preview.html", exc.strerror) from None
        if path:
            click.echo(path)
        return
    if fmt == "json":
        platforms = {key: account.platforms for key, account in config.accounts.items()}
        lines = cache.preview_lines(loaded.feed, timeline, platforms, json_lines)  # one per event, from the cache
        at = {id(event): i for i, event in enumerate(timeline.events)}
        write_lines(sys.stdout, (lines[at[id(event)]] for event in events))
        return
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    style = click.style if color else (lambda text, **_: text)
    for line in text_lines(events, timeline, config.personas, style):
        click.echo(line, color=color)


def parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time", param_hint=name) from None
    return moment if moment.tzinfo else moment.astimezone()  # naive: this machine's local time


def ledger_option(f):
    return click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH", help="Ledger file (default: $BOT_LEDGER or ./state/ledger.sqlite3).")(f)


@cli.command()
@posts_option
@click.option("--dry-run", is_flag=True, help="Publish every account through the console publisher.")
@years_option
@ledger_option
@click.option("--start-at", metavar="ISO", help="Rehearsal: the first entry falls at this instant.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), metavar="N", help="Rehearsal: divide every gap between entries by N.")
@click.option("--from", "start", metavar="ISO", help="Skip entries before this replay date or date-time.")
@click.option("--until", "end", metavar="ISO", help="Skip entries after this replay date or date-time.")
@click.option("--account", "accounts", multiple=True, metavar="KEY", help="Only this account (repeatable).")
@click.pass_context
def run(ctx, posts, dry_run, years_later, ledger, start_at, speed, start, end, accounts):
    """Post every entry at its anniversary until stopped (SIGTERM or SIGINT)."""
    from bot.run.logs import setup
    from bot.run.service import RunOptions, Service, run as run_service

    posts = resolve_posts(ctx, posts)
    setup(os.environ)
    options = RunOptions(
        posts=Path(posts), display=posts, env=dict(os.environ), dry_run=dry_run, years_later=years_later,
        ledger=ledger, start_at=parse_instant(start_at, "--start-at"), speed=speed,
        start=start, end=end, accounts=tuple(accounts),
    )
    ctx.exit(run_service(Service(options, parse_bound=parse_bound)))


def open_ledger_readonly(ledger: Path | None):
    from bot.speed.cache import DEFAULT_LEDGER  # bot.run.service's, without importing the service (apscheduler, publishers)

    path = ledger or Path(os.environ.get("BOT_LEDGER") or DEFAULT_LEDGER)
    if not path.exists():
        return None
    from bot.errors import LedgerError
    from bot.run.ledger import Ledger

    try:
        return Ledger.open(path, readonly=True)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@posts_option
@years_option
@ledger_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
@click.pass_context
def status(ctx, posts, years_later, ledger, fmt):
    """Show what was posted, missed, failed or uncertain, and what is next."""
    import json

    from bot.views.status import report, text

    posts = resolve_posts(ctx, posts)
    loaded = load_or_fail(posts, years_later)
    if loaded.timeline is None:
        echo_diagnostics(loaded, err=True, summary=True)
        ctx.exit(1)
    handle = open_ledger_readonly(ledger)
    try:
        platforms = {key: a.platforms for key, a in loaded.feed.config.accounts.items()}
        data = report(loaded.timeline, platforms, handle, clock())
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
def resolve(entry_id, posted, remote_id, platform, ledger):
    """Settle an uncertain entry by hand."""
    from bot.errors import LedgerError
    from bot.run.ledger import Ledger
    from bot.run.service import DEFAULT_LEDGER

    if posted is None:
        raise click.UsageError("say --posted or --not-posted")
    if remote_id and not posted:
        raise click.UsageError("--remote-id goes with --posted")
    path = ledger or Path(os.environ.get("BOT_LEDGER") or DEFAULT_LEDGER)
    if not path.exists():
        raise click.ClickException(f"no ledger at {path}")
    try:
        with Ledger.open(path, lock=False) as handle:
            rows = handle.resolve(entry_id, posted=posted, remote_id=remote_id, now=clock(), network=platform)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    for row in rows:
        click.echo(f"{row.entry_id} on {row.network}: {row.state}" + (f" (remote id {row.remote_id})" if row.remote_id else ""))


def _register_import() -> None:
    from bot.importers.cli import import_group

    cli.add_command(import_group)


_register_import()


def main() -> None:
    try:
        cli(prog_name="bot")
    except KeyboardInterrupt:
        sys.exit(130)
