"""The README's plugin example is the real interface: it runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.publishers import AccountSettings, OutgoingPost, Persona

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def example() -> dict:
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "# my_publisher.py" in b)
    namespace: dict = {"__name__": "my_publisher"}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    return namespace


def test_the_readme_publisher_example_runs_as_written(tmp_path, capsys):
    cls = example()["MyPublisher"]
    account = AccountSettings("wire-desk", ("mine",))
    with pytest.raises(ConfigError, match="MINE_WIRE_DESK_TOKEN"):  # the base class checks credentials
        cls(account, env={}, feed_dir=tmp_path, state_dir=tmp_path)
    publisher = cls(account, env={"MINE_WIRE_DESK_TOKEN": "t0ken", "MINE_TIMEOUT": "7"}, feed_dir=tmp_path,
                    state_dir=tmp_path)
    assert publisher.timeout == 7.0 and cls.limits.text == 500
    persona = Persona("daily", "Daily Wire", "News.")
    post = OutgoingPost(entry_id="e1", account="wire-desk", network="mine", text="Hello.", persona=persona)
    assert publisher.publish(post) == "remote-id"
    assert publisher.switch_persona(persona) is None
    assert capsys.readouterr().out.splitlines() == ["wire-desk Daily Wire Hello.", "wire-desk is now Daily Wire"]
    with pytest.raises(ConfigError, match="MINE_TIMEOUT"):
        cls(account, env={"MINE_WIRE_DESK_TOKEN": "t0ken", "MINE_TIMEOUT": "soon"}, feed_dir=tmp_path, state_dir=tmp_path)
