"""Located problems: `PATH:LINE: error: message`, one line each."""

from __future__ import annotations

import re
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int
    severity: str
    message: str

    def __str__(self) -> str:
        message = " ".join(self.message.split())  # always one line
        text = f"{self.path}:{self.line}: {self.severity}: {message}"
        # a file name that is not UTF-8 arrives with surrogates, which no UTF-8 stream can print
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def error(path: str, line: int, message: str) -> Diagnostic:
    return Diagnostic(path, line, ERROR, message)


def warning(path: str, line: int, message: str) -> Diagnostic:
    return Diagnostic(path, line, WARNING, message)


def summary(diagnostics, files: int, entries: int) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    def plural(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"
    return (
        f"{plural(errors, 'error')}, {plural(warnings, 'warning')} "
        f"in {plural(files, 'file')} ({plural(entries, 'entry') if entries == 1 else f'{entries} entries'})"
    )


# what varies between warnings of one kind: quoted names, numbers, dates and times
_VARYING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+")
FOLD_FROM = 3  # warnings of one kind in one file that fold into one line (two stay two)
FOLD_LIST = 10  # line numbers named on a folded line


def kind(message: str) -> str:
    """A warning's kind: its message with the quoted names and the numbers blanked out
    (the 29 February of 90 entries, each at its own time, is one kind)."""
    return _VARYING.sub("#", message)


def folded(diagnostics, *, verbose: bool = False) -> list[str]:
    """The lines that show `diagnostics` (in their order). Three or more warnings of one
    kind in one file fold into the first of them, with a count and the lines of the others:
    `PATH:LINE: warning: MESSAGE (and 89 more like it in this file: lines 12, 15, ...)`
    (the first FOLD_LIST of them). Errors never fold; `verbose` folds nothing."""
    diagnostics = list(diagnostics)
    if verbose:
        return [str(d) for d in diagnostics]
    kinds = [None if d.is_error else (d.path, kind(d.message)) for d in diagnostics]
    groups: dict[tuple[str, str], list[int]] = {}
    for key, d in zip(kinds, diagnostics):
        if key is not None:
            groups.setdefault(key, []).append(d.line)
    lines = []
    shown = set()
    for key, d in zip(kinds, diagnostics):
        if key is None or len(groups[key]) < FOLD_FROM:
            lines.append(str(d))
        elif key not in shown:  # the first of its kind stands for all of them
            shown.add(key)
            others = sorted(groups[key][1:])
            named = ", ".join(str(n) for n in others[:FOLD_LIST])
            more = ", ...; bot check --verbose lists them" if len(others) > FOLD_LIST else ""
            lines.append(f"{d} (and {len(others)} more like it in this file: lines {named}{more})")
    return lines
