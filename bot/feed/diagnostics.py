"""Located problems: `PATH:LINE: error: message`, one line each."""

from __future__ import annotations

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
