"""`bot import liveblog` and `bot import lines`: the click commands.

Warnings and errors go to stderr as `PATH:LINE: severity: message`; the
summary goes to stdout. Any error stops the import before a file is written
(exit 1). The default time zone is UTC: pass --timezone for the zone where
the history happened.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from bot.feed.dates import CALENDARS

# The importers load when a command runs: every `bot` invocation builds this group.

ACCOUNT_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
DEFAULT_ZONE = "UTC"


def _account(ctx, param, value: str) -> str:
    if not ACCOUNT_KEY.match(value):
        raise click.BadParameter(f"{value!r} is not an account key ([a-z0-9][a-z0-9_-]*)")
    return value


def _zone(ctx, param, value: str) -> str:
    try:
        if value.startswith(("/", ".")) or ".." in value:
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise click.BadParameter(f"unknown time zone {value!r} (use an IANA name such as Europe/London)") from None
    return value


def _platform(ctx, param, value: str) -> str:
    from bot.publishers import available

    known = available()
    if value not in known:
        raise click.BadParameter(f"unknown platform {value!r} (installed: {', '.join(known)})")
    return value


def _hhmm(ctx, param, value: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise click.BadParameter(f"{value!r} is not a time HH:MM")
    return f"{int(match[1]):02d}:{match[2]}"


def _common(command):
    """Options both importers share."""
    options = [
        click.option("--out", "out", required=True, metavar="DIR", type=click.Path(file_okay=False, path_type=Path), help="Feed folder to write."),
        click.option("--account", required=True, metavar="KEY", callback=_account, help="Account key of every imported post."),
        click.option("--name", default=None, help="Display name of the account's persona (default: the key)."),
        click.option("--platform", default="x", show_default=True, callback=_platform, help="Publisher of the account; sets the length limit."),
        click.option("--timezone", default=DEFAULT_ZONE, metavar="ZONE", show_default=True, callback=_zone, help="IANA zone where the history happened."),
        click.option("--force", is_flag=True, help="Overwrite feed.yaml and post files that exist."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("import")
def import_group() -> None:
    """Turn live blogs and line-per-post diaries into feeds."""


@import_group.command("liveblog", short_help="Import a live blog saved as text.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_common
@click.option("--years-back", metavar="N", type=click.IntRange(min=0), default=0, show_default=True, help="Move every date N years back.")
@click.option("--day-start", metavar="HH:MM", default="08:00", show_default=True, callback=_hhmm, help="Time of a day's first entry.")
@click.option("--day-end", metavar="HH:MM", default="22:00", show_default=True, callback=_hhmm, help="Time of a day's last entry.")
def liveblog_command(file, out, account, name, platform, timezone, force, years_back, day_start, day_end):
    """Import a live blog saved as text: date headings, entries newest first."""
    if day_end < day_start:
        raise click.BadParameter(f"--day-end {day_end} is before --day-start {day_start}", param_hint="--day-end")
    text = _read_text(file)
    from bot.importers.liveblog import parse_liveblog
    from bot.importers.writer import build, title_from
    from bot.importers.yamlout import FeedMeta

    blog = parse_liveblog(text, str(file), years_back, day_start, day_end)
    _report(blog.diagnostics)
    meta = FeedMeta(title_from(file), timezone, "gregorian", account, name or account, platform, blog.description)
    _finish(build(blog.posts, meta), out, force, account)


@import_group.command("lines", short_help="Import a line-per-post diary (file or folder of *.txt).")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_common
@click.option("--calendar", type=click.Choice(CALENDARS), default="gregorian", show_default=True, help="Calendar of the dates as written.")
@click.option("--verbose", is_flag=True, help="List every skipped line.")
def lines_command(path, out, account, name, platform, timezone, force, calendar, verbose):
    """Import `YYYY-MM-DD HH:MM[ r] text` lines from a file or a folder of *.txt."""
    from bot.importers.lines import read_lines
    from bot.importers.writer import build, title_from
    from bot.importers.yamlout import FeedMeta

    found = read_lines(path, str(path), calendar)
    if verbose:
        for skipped in found.skipped:
            click.echo(f"{skipped.path}:{skipped.line}: skipped: {skipped.text[:80]}")
    _report(found.diagnostics)
    meta = FeedMeta(title_from(path), timezone, calendar, account, name or account, platform)
    skipped = len(found.skipped)
    note = f"; skipped {skipped} line that is not a post" if skipped == 1 else f"; skipped {skipped} lines that are not posts"
    if found.malformed:
        note += f" ({found.malformed} malformed, see the warnings above)"
    _finish(build(found.posts, meta), out, force, account, note)


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        click.echo(f"{file}:{line}: error: not valid UTF-8 (byte 0x{data[exc.start]:02x})", err=True)
        raise click.ClickException("import failed; nothing written") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _report(diagnostics) -> None:
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=True)
    errors = sum(1 for d in diagnostics if d.is_error)
    if errors:
        raise click.ClickException(f"import failed with {errors} error{'' if errors == 1 else 's'}; nothing written")


def _finish(output, out: Path, force: bool, account: str, note: str = "") -> None:
    """Write `output` (a bot.importers.writer.Output) and report."""
    from bot.errors import ImportFailed
    from bot.importers.writer import write

    try:
        kept = write(out, output, force)
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or out}: cannot write: {exc.strerror}") from None
    if kept:
        click.echo(f"kept the existing {out / 'feed.yaml'} (use --force to replace it); it must list account {account!r}")
    threads = f"{output.threads} thread{'' if output.threads == 1 else 's'}"
    days = f"{output.days} day{'' if output.days == 1 else 's'}"
    entries = f"{output.entries} {'entry' if output.entries == 1 else 'entries'}"
    click.echo(f"wrote {entries} ({threads}) in {days} to {out}{note}")
