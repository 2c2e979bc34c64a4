"""The deploy recipes work with the documented config.

`config.example.env` becomes the systemd unit's EnvironmentFile and Docker's
`--env-file .env`. Each tool's precedence rules are applied as documented, the
bot's own `Settings` turns the resulting environment into paths, and the paths
are checked against the unit's sandbox or the container's volumes:

- systemd.exec(5) (https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html),
  EnvironmentFile=: the files' settings override those of Environment=, wherever
  the lines stand in the unit; between files, the later file wins. Environment=:
  a later assignment of a variable overrides an earlier one; an empty
  Environment= resets the list. Empty lines, lines starting with # or ;, and
  lines without = are ignored in a file; `VAR=` sets VAR to the empty string.
- ProtectSystem=strict mounts everything read-only except /dev, /proc and /sys;
  ReadWritePaths= and the StateDirectory=/CacheDirectory=/LogsDirectory=/
  RuntimeDirectory= folders are excepted, and systemd creates the latter for the
  unit's user. ProtectHome=true makes /home, /root and /run/user inaccessible
  (like InaccessiblePaths=, inside which nothing can be made accessible again);
  ReadOnlyPaths= are read-only, and ReadWritePaths= nested in them writable.
  PrivateTmp= gives the unit its own writable /tmp and /var/tmp.
- Docker: the Dockerfile's ENV values persist into the container unless
  `docker run` changes them (Dockerfile reference, ENV:
  https://docs.docker.com/reference/dockerfile/#env); `--env-file` is read
  first and `-e`/`--env` override it (`docker run` reference:
  https://docs.docker.com/reference/cli/docker/container/run/). An env-file line
  `VAR=` sets VAR to the empty string; `VAR` alone copies the host's value.

The bot then loads `./.env` without overriding anything already set
(python-dotenv, override=False); the recipes put no `.env` in the working
directory, so that step changes nothing here. An empty BOT_POSTS or BOT_LEDGER
means the bot's relative default, and an empty BOT_CACHE the user's cache folder
(`Settings.resolve`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath as P

import pytest

from bot.settings import Settings
from tests.support.feeds import REPO

UNIT = (REPO / "deploy" / "bot.service").read_text(encoding="utf-8")
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
EXAMPLE = (REPO / "config.example.env").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")
PATH_VARIABLES = ("BOT_POSTS", "BOT_LEDGER", "BOT_CACHE")
YES = {"1", "yes", "true", "on"}


def old_config() -> str:
    """config.example.env with its path lines uncommented, as it was shipped before."""
    text, n = re.subn(r"^#\s*((?:%s)=)" % "|".join(PATH_VARIABLES), r"\1", EXAMPLE, flags=re.M)
    assert n == len(PATH_VARIABLES), "config.example.env keeps the path lines, commented out"
    return text


# ---- systemd -----------------------------------------------------------------------

def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, in order."""
    found, section = [], ""
    lines = iter(text.splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "")
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def service(text: str, key: str) -> list[str]:
    return [v for s, k, v in unit_settings(text) if s == "Service" and k == key]


def last(text: str, key: str, default: str = "") -> str:
    values = service(text, key)
    return values[-1] if values else default


def systemd_env_file(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def unit_environment(unit: str) -> dict[str, str]:
    """What the unit's Environment= lines set, in order."""
    env: dict[str, str] = {}
    for value in service(unit, "Environment"):
        if not value:
            env.clear()
            continue
        for assignment in shlex.split(value):
            key, _, val = assignment.partition("=")
            env[key] = val
    return env


def systemd_environment(unit: str, files: dict[str, str]) -> dict[str, str]:
    """The unit's environment: Environment= in order, then every EnvironmentFile=
    over it, in order (a missing file without a leading '-' fails the unit)."""
    env = unit_environment(unit)
    paths: list[str] = []
    for value in service(unit, "EnvironmentFile"):
        paths = [] if not value else [*paths, value]
    for spec in paths:
        path = spec.lstrip("-")
        if path not in files:
            assert spec.startswith("-"), f"EnvironmentFile={path} does not exist: the unit would not start"
            continue
        env.update(systemd_env_file(files[path]))
    return env


def systemd_rules(unit: str) -> list[tuple[str, str, str]]:
    """(folder, access, source) rules of the unit's sandbox: access is rw, ro or
    none; source "created" for the folders systemd makes for the unit's user."""
    rules: list[tuple[str, str, str]] = []
    protect = last(unit, "ProtectSystem", "no").lower()
    if protect == "strict":
        rules += [("/", "ro", "system"), *((p, "rw", "system") for p in ("/dev", "/proc", "/sys"))]
    elif protect in YES | {"full"}:
        rules += [(p, "ro", "system") for p in ("/usr", "/boot", "/efi", *(("/etc",) if protect == "full" else ()))]
    home = last(unit, "ProtectHome", "no").lower()
    if home in YES | {"read-only", "tmpfs"}:
        access = "ro" if home == "read-only" else "none"  # tmpfs: empty, so the user's files are gone too
        rules += [(p, access, "home") for p in ("/home", "/root", "/run/user")]
    if last(unit, "PrivateTmp", "no").lower() in YES:
        rules += [("/tmp", "rw", "created"), ("/var/tmp", "rw", "created")]
    for key, base in (("StateDirectory", "/var/lib"), ("CacheDirectory", "/var/cache"),
                      ("LogsDirectory", "/var/log"), ("RuntimeDirectory", "/run")):
        for value in service(unit, key):
            rules += [(f"{base}/{name.split(':')[0]}", "rw", "created") for name in value.split()]
    for key, access in (("ReadWritePaths", "rw"), ("ReadOnlyPaths", "ro"), ("InaccessiblePaths", "none")):
        for value in service(unit, key):
            rules += [(path.lstrip("-+"), access, key) for path in value.split()]
    return rules


def within(path: P, folder: str) -> bool:
    return path == P(folder) or P(folder) in path.parents


def systemd_access(unit: str, path: P) -> str:
    """rw, ro or none: an inaccessible folder wins; otherwise the most specific rule."""
    rules = [(folder, access) for folder, access, _ in systemd_rules(unit) if within(path, folder)]
    if any(access == "none" for _, access in rules):
        return "none"
    if not rules:
        return "rw"
    depth = max(len(P(folder).parts) for folder, _ in rules)
    found = {access for folder, access in rules if len(P(folder).parts) == depth}
    return "ro" if "ro" in found else "rw"


def created_for_user(unit: str, path: P) -> bool:
    """Inside a folder systemd creates for the unit's user (or the private /tmp): a
    ReadWritePaths= folder must also exist and belong to the user, which a unit cannot say."""
    return any(source == "created" and within(path, folder) for folder, _, source in systemd_rules(unit))


def effective_paths(env: dict[str, str], workdir: str) -> dict[str, P | None]:
    """The bot's own reading of the environment, made absolute against `workdir`
    (None for a cache left to the user's cache folder)."""
    settings = Settings.resolve({k: v for k, v in env.items() if k.startswith("BOT_")})

    def absolute(path) -> P:
        return P(workdir) / P(str(path))  # an absolute path stays as it is

    return {
        "feed": absolute(settings.posts),
        "ledger": absolute(settings.ledger),
        "state folder": absolute(settings.ledger).parent,
        "cache": absolute(settings.cache) if env.get("BOT_CACHE") else None,
    }


def overridden(deployed: dict[str, str], env: dict[str, str]) -> list[str]:
    """A path the deploy file sets that the environment changed."""
    return [f"{key} is {env.get(key)!r}, not the deploy file's {deployed[key]!r}"
            for key in PATH_VARIABLES if key in deployed and env.get(key) != deployed[key]]


def systemd_problems(unit: str, config: str) -> list[str]:
    files = {path.lstrip("-"): config for path in service(unit, "EnvironmentFile")}
    env = systemd_environment(unit, files)
    paths = effective_paths(env, last(unit, "WorkingDirectory", "/"))
    found = []
    if paths["cache"] is None:
        found.append("BOT_CACHE is unset or empty: the parse cache would go to the user's home folder")
    for what in ("ledger", "state folder", "cache"):
        path = paths[what]
        if path is None:
            continue
        access = systemd_access(unit, path)
        if access != "rw":
            found.append(f"{what} {path} is {'read-only' if access == 'ro' else 'inaccessible'} in the unit's sandbox")
        elif not created_for_user(unit, path):
            found.append(f"{what} {path} is in no folder systemd creates for the unit's user")
    if systemd_access(unit, paths["feed"]) == "none":
        found.append(f"feed {paths['feed']} is inaccessible in the unit's sandbox")
    return overridden(unit_environment(unit), env) + found


# ---- Docker ------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    found = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\"):
            line = line.rstrip()[:-1] + " " + next(lines, "")
        word, _, rest = line.strip().partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def image_env(dockerfile: str) -> dict[str, str]:
    env = {}
    for word, rest in dockerfile_instructions(dockerfile):
        if word == "ENV":
            for assignment in shlex.split(rest):
                key, _, value = assignment.partition("=")
                env[key] = value
    return env


def docker_env_file(text: str, host: dict[str, str]) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if eq:
            env[key] = value
        elif key.strip() in host:
            env[key.strip()] = host[key.strip()]
    return env


def docker_run_commands(text: str) -> list[list[str]]:
    """Every `docker run ...` command in `text` (comment markers and line continuations removed)."""
    lines = [re.sub(r"^\s*#?\s*", "", line) for line in text.splitlines()]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [shlex.split(line) for line in joined.splitlines() if line.startswith("docker run ")]


def parse_docker_run(args: list[str]) -> dict:
    """The parts of `docker run` that matter here: env files, -e values, volumes."""
    with_value = {"--env-file", "-e", "--env", "-v", "--volume", "--name", "--restart", "-p", "--publish", "-u", "--user", "-w", "--workdir"}
    out = {"env_files": [], "env": [], "volumes": [], "user": None, "workdir": None}
    i = 2
    while i < len(args) and args[i].startswith("-"):
        option, eq, value = args[i].partition("=")
        if option in with_value and not eq:
            i += 1
            value = args[i]
        if option == "--env-file":
            out["env_files"].append(value)
        elif option in ("-e", "--env"):
            out["env"].append(value)
        elif option in ("-v", "--volume"):
            source, target, *mode = value.split(":")
            out["volumes"].append((source, target, "ro" in ",".join(mode).split(",")))
        elif option in ("-u", "--user"):
            out["user"] = value
        elif option in ("-w", "--workdir"):
            out["workdir"] = value
        i += 1
    out["image"] = args[i]
    return out


def docker_environment(dockerfile: str, run: dict, files: dict[str, str], host: dict[str, str]) -> dict[str, str]:
    env = image_env(dockerfile)
    for name in run["env_files"]:
        env.update(docker_env_file(files[name], host))
    for value in run["env"]:
        key, eq, val = value.partition("=")
        if eq:
            env[key] = val
        elif key in host:
            env[key] = host[key]
    return env


def owned_in_image(dockerfile: str, folder: str, user: str) -> bool:
    """A RUN line chowns `folder` to `user` (a named volume starts with the image's folder)."""
    for word, rest in dockerfile_instructions(dockerfile):
        if word != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", rest):
            parts = shlex.split(command)
            if parts[:1] == ["chown"]:
                operands = [p for p in parts[1:] if not p.startswith("-")]
                if operands and operands[0].split(":")[0] == user and folder in operands[1:]:
                    return True
    return False


def docker_problems(dockerfile: str, run: dict, config: str, host: dict[str, str] | None = None) -> list[str]:
    files = {name: config for name in run["env_files"]}
    env = docker_environment(dockerfile, run, files, host or {})
    instructions = dockerfile_instructions(dockerfile)
    workdir = run["workdir"] or next((v for w, v in reversed(instructions) if w == "WORKDIR"), "/")
    user = run["user"] or next((v for w, v in reversed(instructions) if w == "USER"), "root")
    paths = effective_paths(env, workdir)
    found = overridden(image_env(dockerfile), env)
    if paths["cache"] is None:
        found.append("BOT_CACHE is unset or empty: the parse cache would go to the user's home folder")

    def mount(path):
        mounts = [(s, t, ro) for s, t, ro in run["volumes"] if within(path, t)]
        return max(mounts, key=lambda m: len(P(m[1]).parts), default=None)

    if mount(paths["feed"]) is None:
        found.append(f"feed {paths['feed']} is on no volume: the container would not see the feed")
    for what in ("ledger", "state folder", "cache"):
        path = paths[what]
        if path is None:
            continue
        mounted = mount(path)
        if mounted is None:
            found.append(f"{what} {path} is on no volume: not writable by {user} and lost with the container")
        elif mounted[2]:
            found.append(f"{what} {path} is on a read-only volume")
        elif user != "root" and "/" not in mounted[0] and not owned_in_image(dockerfile, mounted[1], user):
            found.append(f"{what} {path}: the named volume's folder {mounted[1]} does not belong to {user}")
    return found


# ---- the tests -----------------------------------------------------------------------

def test_the_example_config_leaves_the_deploy_paths_to_the_deploy_files():
    assigned = {line.partition("=")[0] for line in EXAMPLE.splitlines() if line and not line.startswith("#")}
    assert not assigned & set(PATH_VARIABLES)
    note = EXAMPLE.split("#BOT_POSTS")[0].rsplit("---", 1)[1]
    assert "deploy/bot.service" in note and "Dockerfile" in note and "by hand" in note


def test_systemd_unit_with_the_example_config():
    assert systemd_problems(UNIT, EXAMPLE) == []
    env = systemd_environment(UNIT, {"/etc/anniversary-bot.env": EXAMPLE})
    assert env["BOT_POSTS"] == "/opt/anniversary-bot/posts"
    assert env["BOT_LEDGER"] == "/var/lib/anniversary-bot/ledger.sqlite3"
    assert env["BOT_CACHE"] == "/var/lib/anniversary-bot/cache"
    assert systemd_access(UNIT, P("/opt/anniversary-bot/posts/feed.yaml")) == "ro"  # readable, not writable


def test_systemd_unit_catches_the_old_config():
    found = systemd_problems(UNIT, old_config())
    assert "BOT_LEDGER is 'state/ledger.sqlite3', not the deploy file's '/var/lib/anniversary-bot/ledger.sqlite3'" in found
    assert "BOT_POSTS is 'posts', not the deploy file's '/opt/anniversary-bot/posts'" in found
    assert "BOT_CACHE is unset or empty: the parse cache would go to the user's home folder" in found
    assert "ledger /opt/anniversary-bot/state/ledger.sqlite3 is read-only in the unit's sandbox" in found
    assert "state folder /opt/anniversary-bot/state is read-only in the unit's sandbox" in found


def test_environment_file_beats_environment_wherever_it_stands():
    unit = "[Service]\nEnvironment=A=unit B=unit\nEnvironmentFile=/f\nEnvironment=A=later\nEnvironment=C=unit\n"
    env = systemd_environment(unit, {"/f": "# comment\n; comment\nA=file\nnot an assignment\nC=\n"})
    assert env == {"A": "file", "B": "unit", "C": ""}
    assert systemd_environment("[Service]\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n", {}) == {"B": "2"}
    assert systemd_environment("[Service]\nEnvironmentFile=-/missing\nEnvironment=A=1\n", {}) == {"A": "1"}


def test_the_sandbox_model_catches_broken_units():
    unit = UNIT.replace("StateDirectory=anniversary-bot\n", "")
    assert "ledger /var/lib/anniversary-bot/ledger.sqlite3 is read-only in the unit's sandbox" in systemd_problems(unit, EXAMPLE)
    unit = UNIT.replace("StateDirectory=anniversary-bot\n", "ReadWritePaths=/var/lib/anniversary-bot\n")
    assert "ledger /var/lib/anniversary-bot/ledger.sqlite3 is in no folder systemd creates for the unit's user" in systemd_problems(unit, EXAMPLE)
    unit = UNIT.replace("/opt/anniversary-bot/posts", "/home/someone/posts")
    assert "feed /home/someone/posts is inaccessible in the unit's sandbox" in systemd_problems(unit, EXAMPLE)
    unit = UNIT.replace("PrivateTmp=true\n", "PrivateTmp=true\nReadOnlyPaths=/var/lib/anniversary-bot/cache\n")
    assert "cache /var/lib/anniversary-bot/cache is read-only in the unit's sandbox" in systemd_problems(unit, EXAMPLE)
    unit = UNIT.replace("PrivateTmp=true\n", "PrivateTmp=true\nReadOnlyPaths=/var\n")
    assert systemd_problems(unit, EXAMPLE) == []  # the state folder, nested deeper, stays writable


def test_systemd_install_steps_build_the_venv_in_place_without_editable():
    header = "\n".join(line for line in UNIT.splitlines() if line.startswith("#"))
    venv = P(last(UNIT, "ExecStart").split()[0]).parents[1]
    assert f"python3 -m venv {venv}" in header
    pip = next(line for line in header.splitlines() if f"{venv}/bin/pip install" in line)
    assert " -e " not in pip and "--editable" not in pip
    assert "with its .venv" not in header
    assert "config.example.env /etc/anniversary-bot.env" in header
    assert [f.lstrip("-") for f in service(UNIT, "EnvironmentFile")] == ["/etc/anniversary-bot.env"]
    for text in (header, README):
        assert "pip install -e" not in text.split("## Run it as a service")[-1].split("## Publishers")[0]


def docker_commands() -> list[tuple[str, dict]]:
    found = [("Dockerfile", parse_docker_run(c)) for c in docker_run_commands(DOCKERFILE)]
    found += [("README.md", parse_docker_run(c)) for c in docker_run_commands(README)]
    assert {where for where, _ in found} == {"Dockerfile", "README.md"}
    return found


def test_docker_run_with_the_example_config():
    for where, run in docker_commands():
        assert run["env_files"] == [".env"], where
        assert docker_problems(DOCKERFILE, run, EXAMPLE) == [], where
        env = docker_environment(DOCKERFILE, run, {".env": EXAMPLE}, {})
        assert (env["BOT_POSTS"], env["BOT_LEDGER"], env["BOT_CACHE"]) == ("/feed", "/state/ledger.sqlite3", "/state/cache")
    assert "config.example.env" in DOCKERFILE.split("FROM")[0]


def test_docker_run_catches_the_old_config():
    for where, run in docker_commands():
        found = docker_problems(DOCKERFILE, run, old_config())
        assert "feed /app/posts is on no volume: the container would not see the feed" in found, where
        assert "ledger /app/state/ledger.sqlite3 is on no volume: not writable by bot and lost with the container" in found, where
        assert "BOT_CACHE is unset or empty: the parse cache would go to the user's home folder" in found, where
        assert "BOT_POSTS is 'posts', not the deploy file's '/feed'" in found, where


def test_docker_precedence():
    dockerfile = "FROM x\nENV A=image B=image \\\n    C=image\nUSER bot\n"
    run = parse_docker_run(shlex.split("docker run --env-file e -e A=flag -e D -v s:/state img"))
    env = docker_environment(dockerfile, run, {"e": "# c\nA=file\nB=\nD=file\nH\n"}, {"D": "host", "H": "h"})
    assert env == {"A": "flag", "B": "", "C": "image", "D": "host", "H": "h"}
    broken = "FROM x\nENV BOT_POSTS=/feed BOT_LEDGER=/state/l.sqlite3 BOT_CACHE=/state/c\nUSER bot\n"
    run = parse_docker_run(shlex.split("docker run -v f:/feed:ro -v s:/state img"))
    assert docker_problems(broken, run, "") == [
        "ledger /state/l.sqlite3: the named volume's folder /state does not belong to bot",
        "state folder /state: the named volume's folder /state does not belong to bot",
        "cache /state/c: the named volume's folder /state does not belong to bot",
    ]
    assert docker_problems(broken + "RUN mkdir /state && chown -R bot:bot /state\n", run, "") == []
    run = parse_docker_run(shlex.split("docker run -v f:/feed:ro -v s:/state:ro img"))
    assert "ledger /state/l.sqlite3 is on a read-only volume" in docker_problems(broken + "RUN chown bot /state\n", run, "")


def unit_directories() -> list[str]:
    """The host's folders of systemd's own units (one, on a merged /usr)."""
    found = {}
    for folder in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if (Path(folder) / "multi-user.target").exists():
            found.setdefault(os.path.realpath(folder), folder)
    return list(found.values())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(tmp_path):
    """`systemd-analyze verify` in a scratch root: the host's units, a stand-in for
    the bot at ExecStart's path, and this unit; no error and no warning."""
    help_text = subprocess.run(["systemd-analyze", "--help"], capture_output=True, text=True).stdout
    if "--root" not in help_text:
        pytest.skip("this systemd-analyze has no --root")
    if not unit_directories():
        pytest.skip("no systemd unit folder on this machine to verify against")
    root = tmp_path / "root"
    for folder in unit_directories():
        shutil.copytree(folder, root / folder.lstrip("/"), symlinks=True, dirs_exist_ok=True)
    program = root / last(UNIT, "ExecStart").split()[0].lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    target = root / "etc/systemd/system/anniversary-bot.service"
    target.parent.mkdir(parents=True)
    target.write_text(UNIT, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "--man=no", "--generators=no", "/etc/systemd/system/anniversary-bot.service"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr
    # It does catch mistakes: an unknown key is reported.
    target.write_text(UNIT.replace("KillSignal=", "KilSignal="), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "--man=no", "--generators=no", "/etc/systemd/system/anniversary-bot.service"],
        capture_output=True, text=True, timeout=60,
    )
    assert "KilSignal" in done.stderr


# ---- operations: systemd's notify and watchdog, the container's health check ---------

def test_systemd_unit_is_type_notify_with_a_watchdog_the_bot_feeds():
    from bot.ops.health import STALE_AFTER
    from bot.run.service import WATCHDOG_SECONDS

    assert last(UNIT, "Type") == "notify" and last(UNIT, "NotifyAccess", "main") == "main"
    watchdog = int(last(UNIT, "WatchdogSec"))
    # pings every WatchdogSec/2 while healthy; the timer's own job runs every WATCHDOG_SECONDS and is
    # stale after STALE_AFTER: a healthy bot never misses a ping, a hung one is killed within WatchdogSec
    assert watchdog / 2 > WATCHDOG_SECONDS and watchdog >= 2 * STALE_AFTER
    assert last(UNIT, "Restart") in ("on-failure", "always")  # a watchdog kill counts as a failure
    header = "\n".join(line for line in UNIT.splitlines() if line.startswith("#"))
    assert "[mastodon,bluesky,notify,http]" in header


def test_dockerfile_health_check_asks_healthz_through_the_probe():
    instructions = dockerfile_instructions(DOCKERFILE)
    checks = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert checks[0].endswith('CMD ["python", "-m", "bot.ops.probe"]') and "--interval=" in checks[0]
    installs = " ".join(rest for word, rest in instructions if word == "RUN")
    assert {"notify", "http"} <= image_extras(installs)
    assert "BOT_HTTP" not in image_env(DOCKERFILE)  # off unless the operator sets it


def image_extras(installs: str) -> set[str]:
    """The extras the image's `pip install '.[...]'` brings."""
    found = re.search(r"pip install [^']*'\.\[([a-z,]+)\]'", installs)
    assert found, "the image installs the project with its extras"
    return set(found[1].split(","))


# ---- docker compose: two bots on one PostgreSQL ledger ------------------------------

COMPOSE = (REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8")


def compose_services() -> dict:
    import yaml

    return yaml.safe_load(COMPOSE)["services"]  # the x-bot anchor merged into each bot


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default} against `env` (KeyError: unset)."""
    def one(match) -> str:
        name, op, arg = match[1], match[2], match[3]
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg
        raise KeyError(f"{name}: {arg}")
    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", one, value)


def test_compose_runs_two_bots_on_one_postgresql_ledger_once_it_is_healthy():
    services = compose_services()
    bots = {name: s for name, s in services.items() if name != "postgres"}
    assert sorted(bots) == ["bot-a", "bot-b"]
    database = services["postgres"]
    assert database["healthcheck"]["test"][-1].startswith("pg_isready")
    assert any(v.endswith(":/var/lib/postgresql/data") and not v.startswith((".", "/")) for v in database["volumes"])
    env = {"POSTGRES_PASSWORD": "s3cret-pw"}
    urls = {interpolate(bot["environment"]["BOT_LEDGER"], env) for bot in bots.values()}
    assert urls == {f"postgresql://bot:s3cret-pw@postgres:5432/{database['environment']['POSTGRES_DB']}"}
    assert interpolate(database["environment"]["POSTGRES_PASSWORD"], env) == "s3cret-pw"
    with pytest.raises(KeyError, match="set POSTGRES_PASSWORD"):
        interpolate(next(iter(bots.values()))["environment"]["BOT_LEDGER"], {})
    feeds, states = set(), set()
    for name, bot in bots.items():
        assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
        assert bot["build"] == ".." and bot["env_file"] == "../.env"
        volumes = [v.split(":") for v in bot["volumes"]]  # SOURCE:TARGET[:MODE]
        mounts = {v[0]: v[1] for v in volumes}
        assert ["../posts", "/feed", "ro"] in volumes  # the feed, read-only
        feeds.add(mounts["../posts"])
        states.add(next(src for src, dst in mounts.items() if dst == "/state"))
        settings = Settings.resolve({k: interpolate(str(v), env) for k, v in bot["environment"].items()})
        assert settings.postgres and settings.failover == 15
        assert str(settings.posts) == mounts["../posts"] and str(settings.state) == "/state"
        assert str(settings.cache).startswith("/state/")
    assert feeds == {"/feed"} and len(states) == 2  # one feed; each bot its own state folder
    assert "postgres" in image_extras(" ".join(rest for word, rest in dockerfile_instructions(DOCKERFILE)
                                               if word == "RUN"))


def test_compose_needs_no_path_from_the_example_config():
    """The example config's path lines stay commented out: compose's `environment` sets them."""
    example = systemd_env_file(EXAMPLE)
    assert not {"BOT_POSTS", "BOT_LEDGER", "BOT_CACHE", "BOT_STATE"} & set(example)
    assert example.get("BOT_FAILOVER") == "15"


def test_the_unit_keeps_its_state_folder_with_a_postgresql_ledger():
    config = EXAMPLE + "\nBOT_LEDGER=postgresql://bot:pw@db.example/bot\n"
    env = systemd_environment(UNIT, {"/etc/anniversary-bot.env": config})
    settings = Settings.resolve({k: v for k, v in env.items() if k.startswith("BOT_")})
    assert settings.postgres
    assert systemd_access(UNIT, P(str(settings.state))) == "rw" and created_for_user(UNIT, P(str(settings.state)))


def test_readme_explains_high_availability_with_the_compose_file():
    section = README.split("## High availability", 1)[1].split("\n## ", 1)[0]
    assert "deploy/compose.yaml" in section and "BOT_FAILOVER" in section
    for words in ("protects against", "does not protect"):
        assert words in section
