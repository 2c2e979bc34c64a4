"""`bot init DIR`: a commented feed to start from, valid as written."""

from __future__ import annotations

import re

from bot.feed import config, postfile
from bot.feed.template import FILES


def test_init_writes_a_feed_that_check_passes(run_bot, tmp_path):
    code, out, err = run_bot("init", "myfeed", cwd=tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "myfeed").iterdir()) == sorted(FILES)
    assert "myfeed/feed.yaml" in out and "bot check myfeed" in out
    code, out, err = run_bot("check", "myfeed", cwd=tmp_path)
    assert code == 0, out + err
    assert out.strip() == "0 errors, 0 warnings in 2 files (2 entries)"


def test_every_key_is_explained_in_the_template():
    """Each key the validator knows appears in the template, set or commented out,
    next to a comment line."""
    feed, posts = FILES["feed.yaml"], FILES["1969-07-20.yaml"]
    for key in (*config.FEED_KEYS, *config.ACCOUNT_KEYS, *config.PERSONA_KEYS):
        assert re.search(rf"^\s*#?\s*{key}:", feed, re.M), key
    for key in (*postfile.FILE_KEYS, *postfile.ENTRY_KEYS):
        assert re.search(rf"^\s*(- |#)?\s*{key}:", posts, re.M), key
    for text in FILES.values():
        lines = text.splitlines()
        comments = sum(line.lstrip().startswith("#") for line in lines)
        assert comments * 2 > len([line for line in lines if line.strip()]), "mostly comments"


def test_init_refuses_to_overwrite_feed_yaml(run_bot, tmp_path):
    feed = tmp_path / "posts"
    feed.mkdir()
    (feed / "feed.yaml").write_text("title: mine\n", encoding="utf-8")
    code, out, err = run_bot("init", cwd=tmp_path)  # DIR defaults to ./posts
    assert code == 1
    assert err.count("\n") == 1 and "feed.yaml exists" in err and "--force" in err, err
    assert "Traceback" not in err
    assert (feed / "feed.yaml").read_text(encoding="utf-8") == "title: mine\n"
    assert sorted(p.name for p in feed.iterdir()) == ["feed.yaml"]  # nothing else written either


def test_init_refuses_when_only_the_post_file_exists(invoke_bot, tmp_path):
    feed = tmp_path / "posts"
    feed.mkdir()
    (feed / "1969-07-20.yaml").write_text("date: 1969-07-20\nposts: []\n", encoding="utf-8")
    code, _, err = invoke_bot("init", "posts", cwd=tmp_path)
    assert code == 1 and "1969-07-20.yaml exists" in err
    assert not (feed / "feed.yaml").exists()


def test_init_force_overwrites(invoke_bot, tmp_path):
    feed = tmp_path / "posts"
    feed.mkdir()
    (feed / "feed.yaml").write_text("title: mine\n", encoding="utf-8")
    code, _, err = invoke_bot("init", "posts", "--force", cwd=tmp_path)
    assert code == 0, err
    assert (feed / "feed.yaml").read_text(encoding="utf-8") == FILES["feed.yaml"]


def test_init_follows_bot_posts(invoke_bot, tmp_path):
    code, _, err = invoke_bot("init", cwd=tmp_path, env={"BOT_POSTS": "from-env"})
    assert code == 0, err
    assert (tmp_path / "from-env" / "feed.yaml").is_file()
