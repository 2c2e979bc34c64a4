#!/usr/bin/env python3
"""Pin the parts of X's OpenAPI document that the bot uses.

X publishes the X API v2 OpenAPI document in its SDK repository
(https://github.com/xdevplatform/xdk, file specs/openapi.json). This script keeps
only the operations in OPERATIONS and every component they reference, directly
or through other components (schemas, parameters, responses, request bodies,
headers, security schemes named in `security`), and writes them with an
`x-pinned` header saying where they came from. The output is sorted and
indented the same way every time, so a refresh shows a clean diff.

Usage:
    python scripts/pin_x_spec.py FULL_OPENAPI_JSON --commit SHA [--out PATH]
    python scripts/pin_x_spec.py --git XDK_CHECKOUT [--rev HEAD] [--out PATH]

With --git the document is read as REV:specs/openapi.json from that clone (a bare
mirror works too) and the commit is taken from it. --out defaults to
tests/fakes/x_openapi.json; --date (YYYY-MM-DD) to today in UTC.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPOSITORY = "https://github.com/xdevplatform/xdk"
FILE = "specs/openapi.json"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "fakes" / "x_openapi.json"

# (method, path) the bot calls or is about to call
OPERATIONS = (
    ("post", "/2/tweets"),
    ("post", "/2/media/upload"),
    ("post", "/2/media/metadata"),
    ("get", "/2/users/me"),
    ("get", "/2/users/{id}/tweets"),
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class PinError(Exception):
    pass


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _component(ref: str) -> tuple[str, str]:
    """('schemas', 'Post') for '#/components/schemas/Post'; PinError for any other ref."""
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"]:
        raise PinError(f"unsupported $ref {ref!r} (only #/components/<kind>/<name>)")
    return parts[2], _unescape(parts[3])


def _refs(node: Any) -> set[str]:
    """Every component reference inside `node`: $ref values and discriminator mappings."""
    found: set[str] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            mapping = item.get("discriminator", {}).get("mapping") if isinstance(
                item.get("discriminator"), dict) else None
            if isinstance(mapping, dict):
                found.update(v for v in mapping.values() if isinstance(v, str) and v.startswith("#"))
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def pin(document: dict[str, Any], *, commit: str, date: str,
        operations=OPERATIONS, repository: str = REPOSITORY, file: str = FILE) -> dict[str, Any]:
    """The pinned document: `operations` of `document` and their transitive components."""
    if not str(document.get("openapi", "")).startswith("3."):
        raise PinError(f"not an OpenAPI 3 document (openapi: {document.get('openapi')!r})")
    components = document.get("components", {})
    paths: dict[str, Any] = {}
    for method, path in operations:
        item = document.get("paths", {}).get(path)
        if not isinstance(item, dict) or method not in item:
            raise PinError(f"{method.upper()} {path} is not in the document")
        kept = paths.setdefault(path, {k: v for k, v in item.items() if k not in HTTP_METHODS})
        kept[method] = item[method]

    wanted: dict[str, dict[str, Any]] = {}
    todo = sorted(_refs(paths))
    while todo:
        kind, name = _component(todo.pop())
        if name in wanted.get(kind, {}):
            continue
        try:
            value = components[kind][name]
        except KeyError:
            raise PinError(f"#/components/{kind}/{name} is referenced but not defined") from None
        wanted.setdefault(kind, {})[name] = value
        todo.extend(_refs(value))

    security = [op.get("security", document.get("security", []))
                for item in paths.values() for m, op in item.items() if m in HTTP_METHODS]
    for name in {n for alternatives in security for req in alternatives for n in req}:
        try:
            wanted.setdefault("securitySchemes", {})[name] = components["securitySchemes"][name]
        except KeyError:
            raise PinError(f"security scheme {name!r} is used but not defined") from None

    tags = {t for item in paths.values() for m, op in item.items() if m in HTTP_METHODS
            for t in op.get("tags", [])}
    pinned: dict[str, Any] = {
        "openapi": document["openapi"],
        "info": document.get("info", {}),
        "x-pinned": {
            "repository": repository,
            "file": file,
            "commit": commit,
            "version": document.get("info", {}).get("version"),
            "date": date,
            "operations": [f"{m.upper()} {p}" for m, p in operations],
            "made_by": "scripts/pin_x_spec.py",
        },
        "paths": paths,
        "components": wanted,
    }
    if "servers" in document:
        pinned["servers"] = document["servers"]
    if "security" in document:
        pinned["security"] = document["security"]
    if "tags" in document:
        pinned["tags"] = [t for t in document["tags"] if t.get("name") in tags]
    return pinned


TOP_LEVEL = ("x-pinned", "openapi", "info", "servers", "security", "tags", "paths", "components")


def _sorted(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _sorted(node[key]) for key in sorted(node)}
    if isinstance(node, list):
        return [_sorted(item) for item in node]
    return node


def dumps(pinned: dict[str, Any]) -> str:
    """The text written: the x-pinned header first, then the document, keys sorted below."""
    order = [k for k in TOP_LEVEL if k in pinned] + sorted(k for k in pinned if k not in TOP_LEVEL)
    ordered = {key: _sorted(pinned[key]) for key in order}
    return json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"


def _git(directory: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise PinError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="the full openapi.json (- for stdin)")
    parser.add_argument("--git", metavar="DIR", help="read REV:specs/openapi.json from this clone")
    parser.add_argument("--rev", default="HEAD", help="revision for --git (default HEAD)")
    parser.add_argument("--commit", help="commit of the source document (taken from --git)")
    parser.add_argument("--repository", default=REPOSITORY)
    parser.add_argument("--file", default=FILE, help="path of the document in the repository")
    parser.add_argument("--date", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        if args.git:
            commit = _git(args.git, "rev-parse", f"{args.rev}^{{commit}}").strip()
            text = _git(args.git, "show", f"{commit}:{args.file}")
        elif args.source:
            if not args.commit:
                parser.error("--commit is required when reading a file")
            commit = args.commit
            text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text("utf-8")
        else:
            parser.error("give FULL_OPENAPI_JSON or --git DIR")
        pinned = pin(json.loads(text), commit=commit, date=args.date,
                     repository=args.repository, file=args.file)
    except (PinError, OSError, ValueError) as exc:
        print(f"pin_x_spec: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(dumps(pinned), encoding="utf-8")
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(pinned["components"].items()))
    print(f"{args.out}: X API {pinned['x-pinned']['version']} at {commit[:12]}, "
          f"{len(OPERATIONS)} operations, {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
