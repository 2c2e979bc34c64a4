"""The feed repository's checks: the pre-commit hook and the GitHub Actions example."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from tests.support.feeds import REPO, SAMPLE

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
EXAMPLE = REPO / "examples" / "github-actions"
# The keys pre-commit's manifest schema knows (pre_commit/clientlib.py, MANIFEST_HOOK_DICT).
MANIFEST_REQUIRED = {"id", "name", "entry", "language"}
MANIFEST_OPTIONAL = {
    "alias", "files", "exclude", "types", "types_or", "exclude_types", "additional_dependencies", "args",
    "always_run", "fail_fast", "pass_filenames", "description", "language_version", "log_file",
    "minimum_pre_commit_version", "require_serial", "stages", "verbose",
}


def broken_feed(tmp_path):
    feed = tmp_path / "posts"
    shutil.copytree(SAMPLE, feed)
    day = feed / "1917-11-07.yaml"
    day.write_text(day.read_text(encoding="utf-8").replace("    text:", "    txt:", 1), encoding="utf-8")
    return feed


def options_of(invoke_bot, tmp_path, *command) -> tuple[set[str], dict[str, set[str]]]:
    """The options `bot COMMAND --help` lists, and the choices of those that have some."""
    code, out, err = invoke_bot(*command, "--help", cwd=tmp_path)
    assert code == 0, f"bot {' '.join(command)} is not a command: {err}"
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", out))
    choices = {m[0]: set(m[1].split("|")) for m in re.findall(r"(--[a-z-]+) \[([a-z|]+)\]", out)}
    return options, choices


def check_command(argv: list[str], invoke_bot, tmp_path) -> None:
    """`argv` (starting with "bot") names a real subcommand and real options, with allowed choices."""
    assert argv[0] == "bot"
    command = [argv[1]]
    options, choices = options_of(invoke_bot, tmp_path, *command)
    for i, word in enumerate(argv[2:], start=2):
        if word.startswith("-"):
            name = word.split("=")[0]
            assert name in options, f"bot {command[0]} has no option {name}"
            if name in choices:
                assert argv[i + 1] in choices[name], f"{argv[i + 1]} is not a choice of {name}"


# ---- pre-commit ----------------------------------------------------------------------

def hooks():
    return yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))


def test_pre_commit_manifest_is_well_formed():
    found = hooks()
    assert isinstance(found, list) and [h["id"] for h in found] == ["bot-check"]
    hook = found[0]
    assert MANIFEST_REQUIRED <= set(hook) <= MANIFEST_REQUIRED | MANIFEST_OPTIONAL
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("posts/feed.yaml", "posts/1917/11-06.yml", "feed.yaml"):
        assert files.search(path), path
    for path in ("README.md", "posts/media/lenin.png", "posts/feed.yaml.orig"):
        assert not files.search(path), path


def test_pre_commit_entry_is_a_real_command(invoke_bot, tmp_path):
    entry = shlex.split(hooks()[0]["entry"])
    assert entry[0] in PYPROJECT["project"]["scripts"]
    check_command(entry, invoke_bot, tmp_path)


def test_pre_commit_installs_the_network_extras():
    """pre-commit installs the repository without extras: the hook names the client
    libraries itself, the same as the [mastodon] and [bluesky] extras."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert sorted(hooks()[0]["additional_dependencies"]) == sorted(extras["mastodon"] + extras["bluesky"])


def test_pre_commit_runs_the_hook_as_pre_commit_would(run_bot, tmp_path):
    """pre-commit runs `entry` + `args` (no file names) in the repository's root."""
    entry = shlex.split(hooks()[0]["entry"])
    shutil.copytree(SAMPLE, tmp_path / "good" / "posts")
    code, out, err = run_bot(*entry[1:], "posts", cwd=tmp_path / "good")
    assert code == 0, out + err
    broken_feed(tmp_path)
    code, out, _ = run_bot(*entry[1:], "posts", cwd=tmp_path)
    assert code == 1 and "unknown key 'txt'" in out


# ---- GitHub Actions --------------------------------------------------------------------

def workflow():
    return yaml.safe_load((EXAMPLE / "check-feed.yml").read_text(encoding="utf-8"))


def run_lines(step) -> list[str]:
    """A step's shell lines, continuations joined."""
    return [line.strip() for line in step.get("run", "").replace("\\\n", " ").splitlines() if line.strip()]


def bot_lines(flow) -> list[list[str]]:
    return [shlex.split(line) for step in flow["jobs"]["check"]["steps"] for line in run_lines(step) if line.startswith("bot ")]


def test_workflow_runs_on_pull_requests():
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert "pull_request" in triggers
    assert flow["permissions"] == {"contents": "read"}


def test_workflow_installs_the_bot():
    flow = workflow()
    install = [line for step in flow["jobs"]["check"]["steps"] for line in run_lines(step) if "pip install" in line]
    assert install == ['python -m pip install "$BOT_PACKAGE"']
    requirement = Requirement(flow["env"]["BOT_PACKAGE"])
    assert requirement.name == PYPROJECT["project"]["name"]
    assert requirement.extras <= set(PYPROJECT["project"]["optional-dependencies"])


def test_workflow_commands_are_real(invoke_bot, tmp_path):
    commands = bot_lines(workflow())
    assert [c[1] for c in commands] == ["check", "preview"]
    for argv in commands:
        check_command(argv, invoke_bot, tmp_path)


def test_workflow_uploads_the_preview_it_renders():
    flow = workflow()
    preview = next(c for c in bot_lines(flow) if c[1] == "preview")
    assert preview[preview.index("--format") + 1] == "html"
    out = preview[preview.index("--out") + 1]
    upload = [s for s in flow["jobs"]["check"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert [s["with"]["path"] for s in upload] == [out]


def test_workflow_steps_work_on_the_sample_feed(run_bot, tmp_path):
    """The workflow's bot commands, with its environment, in a copy of a feed repository."""
    flow = workflow()
    shutil.copytree(SAMPLE, tmp_path / flow["env"]["BOT_POSTS"])
    env = {k: v for k, v in flow["env"].items() if k.startswith("BOT_") and k != "BOT_PACKAGE"}
    for argv in bot_lines(flow):
        code, out, err = run_bot(*argv[1:], cwd=tmp_path, env=env, timeout=120)
        assert code == 0, f"{argv}: {out}{err}"
    page = (tmp_path / "preview.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "Revolutionary Times" in page


def test_problem_matcher_reads_check_s_lines(run_bot, tmp_path):
    matcher = json.loads((EXAMPLE / "bot-check-matcher.json").read_text(encoding="utf-8"))["problemMatcher"][0]
    pattern = matcher["pattern"][0]
    regexp = re.compile(pattern["regexp"])
    broken_feed(tmp_path)
    (tmp_path / "posts" / "1917-11-08.yaml").write_text(
        "date: 1917-11-08\nposts:\n  - time: '09:00'\n    account: lenin\n    text: Hi.\n    media: [media/lenin.png]\n", encoding="utf-8")
    code, out, _ = run_bot("check", cwd=tmp_path, env={"BOT_POSTS": "posts"})
    assert code == 1
    found = []
    for line in out.splitlines():
        match = regexp.search(line)
        if match:
            found.append((match[pattern["file"]], int(match[pattern["line"]]), match[pattern["severity"]], match[pattern["message"]]))
    assert ("posts/1917-11-07.yaml", 6, "error", "unknown key 'txt' in entry (did you mean 'text'?)") in found
    assert any(severity == "warning" and path == "posts/1917-11-08.yaml" for path, _, severity, _ in found)
    for path, _, _, _ in found:
        assert (tmp_path / path).is_file(), path  # relative to the repository's root, as GitHub needs
    assert len(found) == len(out.splitlines()) - 1  # every line but the summary


@pytest.mark.parametrize("name", ["README.md", "check-feed.yml", "bot-check-matcher.json"])
def test_example_files_exist(name):
    assert (EXAMPLE / name).is_file()
