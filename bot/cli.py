"""The `bot` command line. Thin: options become `Settings`, the stages do the work."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot import __version__
from bot.errors import ConfigError, LedgerError


class State:
    def __init__(self) -> None:
        self.posts: str | None = None


def clock() -> datetime:
    """The one place the CLI reads the wall clock."""
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
    return click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH", help="Ledger file (default: $BOT_LEDGER or ./state/ledger.sqlite3).")(f)


def load_or_fail(settings):
    from bot.load import feed_cache, load

    try:  # frozen: the feed lives until the command ends
        return load(settings, now=clock(), cache=feed_cache(settings), freeze=True)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def echo_diagnostics(loaded, *, err: bool, summary: bool, verbose: bool = False) -> None:
    """One line per problem (warnings of one kind in one file folded, unless `verbose`), then the summary."""
    from bot.feed.diagnostics import folded, summary as summarize

    for line in folded(loaded.diagnostics, verbose=verbose):
        click.echo(line, err=err)
    if summary:
        click.echo(summarize(loaded.diagnostics, loaded.feed.files, len(loaded.feed.entries)), err=err)


def open_ledger_readonly(settings):
    """The ledger opened read-only, or None when there is none yet."""
    if not settings.ledger.exists():
        return None
    from bot.run.ledger import Ledger

    try:
        return Ledger.open(settings.ledger, readonly=True)
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
    if not loaded.ok:
        echo_diagnostics(loaded, err=True, summary=True)
        ctx.exit(1)
    echo_diagnostics(loaded, err=True, summary=False)  # warnings only
    try:
        events = views.chosen(loaded, settings)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
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


def parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time", param_hint=name) from None
    return moment if moment.tzinfo else moment.astimezone()  # naive: this machine's local time


@cli.command()
@folder_argument
@posts_option
@click.option("--dry-run", is_flag=True, help="Publish every account through the console publisher.")
@years_option
@ledger_option
@click.option("--start-at", metavar="ISO", help="Rehearsal: the first entry falls at this instant.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), metavar="N", help="Rehearsal: divide every gap between entries by N.")
@window_options
@click.pass_context
def run(ctx, folder, posts, dry_run, years_later, ledger, start_at, speed, start, end, accounts):
    """Post every entry at its anniversary until stopped (SIGTERM or SIGINT)."""
    from bot.run.logs import setup
    from bot.run.service import RunMode, Service, run as run_service

    settings = settings_for(ctx, posts, folder, years_later=years_later, ledger=ledger, start=start, end=end, accounts=accounts)
    setup(settings.env)
    mode = RunMode(dry_run=dry_run, start_at=parse_instant(start_at, "--start-at"), speed=speed)
    ctx.exit(run_service(Service(settings, mode)))


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
    from bot.run.ledger import Ledger

    if posted is None:
        raise click.UsageError("say --posted or --not-posted")
    if remote_id and not posted:
        raise click.UsageError("--remote-id goes with --posted")
    settings = settings_for(ctx, ledger=ledger)
    if not settings.ledger.exists():
        raise click.ClickException(f"no ledger at {settings.ledger}")
    try:
        with Ledger.open(settings.ledger, lock=False) as handle:
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
