"""The pinned part of X's OpenAPI document, the script that cuts it, and the validator
the fake X server uses (tests/fakes/x_spec.py)."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.fakes.x_spec import PINNED, Request, XSpec, convert_schema, pinned_spec

REPO = Path(__file__).resolve().parents[1]
OPERATIONS = {("post", "/2/tweets"), ("post", "/2/media/upload"), ("post", "/2/media/metadata"),
              ("get", "/2/users/me"), ("get", "/2/users/{id}/tweets")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTH = {"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="t", oauth_signature="s"'}


def _load_script():
    spec = importlib.util.spec_from_file_location("pin_x_spec", REPO / "scripts" / "pin_x_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pin_x_spec = _load_script()


def pinned_document() -> dict:
    return json.loads(PINNED.read_text(encoding="utf-8"))


def refs(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.append(node["$ref"])
        if isinstance(node.get("discriminator"), dict):
            found += list(node["discriminator"].get("mapping", {}).values())
        for value in node.values():
            found += refs(value)
    elif isinstance(node, list):
        for value in node:
            found += refs(value)
    return found


def resolve(document: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


# ---- the pinned file

def test_pinned_spec_lists_exactly_the_operations_the_bot_uses():
    document = pinned_document()
    listed = {(m, p) for p, item in document["paths"].items() for m in item if m in METHODS}
    assert listed == OPERATIONS
    assert document["x-pinned"]["operations"] == [f"{m.upper()} {p}" for m, p in pin_x_spec.OPERATIONS]


def test_pinned_spec_is_self_contained():
    document = pinned_document()
    found = refs(document)
    assert len(found) > 50
    for ref in found:
        resolve(document, ref)  # KeyError when it points outside the file
    schemes = document["components"]["securitySchemes"]
    for item in document["paths"].values():
        for method, op in item.items():
            if method in METHODS:
                assert {n for req in op["security"] for n in req} <= set(schemes)


def test_pinned_spec_says_where_it_comes_from():
    document = pinned_document()
    header = document["x-pinned"]
    assert header["repository"] == "https://github.com/xdevplatform/xdk"
    assert header["file"] == "specs/openapi.json"
    assert re.fullmatch(r"[0-9a-f]{40}", header["commit"])
    assert header["version"] == document["info"]["version"]
    date.fromisoformat(header["date"])
    assert list(document)[0] == "x-pinned"  # a header: first in the file


def test_pinned_file_is_what_the_script_writes_and_cutting_it_again_changes_nothing():
    document = pinned_document()
    header = document["x-pinned"]
    assert PINNED.read_text(encoding="utf-8") == pin_x_spec.dumps(document)  # sorted, stable
    again = pin_x_spec.pin(document, commit=header["commit"], date=header["date"])
    assert pin_x_spec.dumps(again) == PINNED.read_text(encoding="utf-8")  # nothing missing


# ---- the script

FULL = {
    "openapi": "3.0.0",
    "info": {"title": "X API v2", "version": "9.1"},
    "servers": [{"url": "https://api.x.com"}],
    "tags": [{"name": "Posts"}, {"name": "Spaces"}],
    "paths": {
        "/2/tweets": {
            "post": {"tags": ["Posts"], "security": [{"UserToken": []}],
                     "requestBody": {"content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Create"}}}},
                     "responses": {"201": {"description": "ok"}}},
            "get": {"tags": ["Posts"], "parameters": [{"$ref": "#/components/parameters/Unused"}],
                    "responses": {"200": {"description": "ok"}}},
        },
        "/2/spaces": {"get": {"tags": ["Spaces"], "responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {
            "Create": {"type": "object", "properties": {"reply": {"$ref": "#/components/schemas/Reply"}},
                       "oneOf": [{"$ref": "#/components/schemas/A"}],
                       "discriminator": {"propertyName": "t", "mapping": {"b": "#/components/schemas/B"}}},
            "Reply": {"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}}},
            "Id": {"type": "string", "pattern": "^[0-9]+$"},
            "A": {"type": "object"},
            "B": {"type": "object"},
            "Unrelated": {"type": "string"},
        },
        "parameters": {"Unused": {"name": "x", "in": "query", "schema": {"type": "string"}}},
        "securitySchemes": {"UserToken": {"type": "http", "scheme": "OAuth"},
                            "BearerToken": {"type": "http", "scheme": "bearer"}},
    },
}


def test_script_keeps_the_operations_and_their_components_transitively():
    pinned = pin_x_spec.pin(FULL, commit="c" * 40, date="2025-01-02", operations=(("post", "/2/tweets"),))
    assert list(pinned["paths"]) == ["/2/tweets"] and list(pinned["paths"]["/2/tweets"]) == ["post"]
    assert sorted(pinned["components"]["schemas"]) == ["A", "B", "Create", "Id", "Reply"]
    assert "parameters" not in pinned["components"]  # only the dropped GET used it
    assert list(pinned["components"]["securitySchemes"]) == ["UserToken"]
    assert pinned["tags"] == [{"name": "Posts"}]
    assert pinned["x-pinned"] == {
        "repository": "https://github.com/xdevplatform/xdk", "file": "specs/openapi.json",
        "commit": "c" * 40, "version": "9.1", "date": "2025-01-02",
        "operations": ["POST /2/tweets"], "made_by": "scripts/pin_x_spec.py"}
    text = pin_x_spec.dumps(pinned)
    assert text == pin_x_spec.dumps(json.loads(text))
    assert text.index('"x-pinned"') < text.index('"openapi"') < text.index('"paths"')


def test_script_refuses_a_missing_operation_or_a_dangling_reference():
    with pytest.raises(pin_x_spec.PinError, match="GET /2/nothing"):
        pin_x_spec.pin(FULL, commit="c", date="d", operations=(("get", "/2/nothing"),))
    broken = copy.deepcopy(FULL)
    del broken["components"]["schemas"]["Id"]
    with pytest.raises(pin_x_spec.PinError, match="#/components/schemas/Id"):
        pin_x_spec.pin(broken, commit="c", date="d", operations=(("post", "/2/tweets"),))


def test_script_command_line_from_a_file_and_from_a_git_clone(tmp_path):
    header = pinned_document()["x-pinned"]
    out = tmp_path / "pinned.json"
    script = [sys.executable, str(REPO / "scripts" / "pin_x_spec.py")]
    done = subprocess.run([*script, str(PINNED), "--commit", header["commit"], "--date", header["date"],
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == PINNED.read_bytes()

    clone = tmp_path / "xdk"
    (clone / "specs").mkdir(parents=True)
    (clone / "specs" / "openapi.json").write_bytes(PINNED.read_bytes())
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    done = subprocess.run([*script, "--git", str(clone), "--date", "2025-01-02", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["x-pinned"]["commit"] == commit

    done = subprocess.run([*script, str(PINNED), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode != 0 and "--commit is required" in done.stderr


# ---- OpenAPI 3.0 -> JSON Schema

def test_openapi_30_schemas_are_translated():
    assert convert_schema({"type": "string", "nullable": True, "enum": ["a"]}) == {
        "type": ["string", "null"], "enum": ["a", None]}
    assert convert_schema({"allOf": [{"$ref": "#/x"}], "nullable": True}) == {
        "anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]}
    assert convert_schema({"$ref": "#/x", "description": "ignored in 3.0"}) == {"$ref": "#/x"}
    assert convert_schema({"type": "integer", "minimum": 5, "exclusiveMinimum": True}) == {
        "type": "integer", "exclusiveMinimum": 5}
    assert convert_schema({"type": "object", "properties": {"a": {"type": "string", "example": "x",
                                                                 "x-extra": 1}}}) == {
        "type": "object", "properties": {"a": {"type": "string"}}}


def test_nullable_fields_of_the_pinned_spec_accept_null():
    # PostAttachments.media_keys is `nullable: true` in the 3.0 document
    answer = {"data": [{"id": "1", "text": "x", "attachments": {"media_keys": None}}]}
    assert pinned_spec().check_response("GET", "/2/users/1/tweets", 200, "application/json",
                                        json.dumps(answer).encode()) == []
    answer["data"][0]["attachments"]["media_keys"] = 7
    [problem] = pinned_spec().check_response("GET", "/2/users/1/tweets", 200, "application/json",
                                             json.dumps(answer).encode())
    assert "7 is not of type 'array', 'null'" in problem


def test_only_openapi_3_0_and_3_1_are_understood():
    assert XSpec({"openapi": "3.1.0", "paths": {}}).openapi == "3.1.0"
    with pytest.raises(ValueError, match="unsupported OpenAPI version '2.0'"):
        XSpec({"openapi": "2.0", "paths": {}})


def test_an_openapi_31_document_is_used_as_json_schema_as_it_is():
    document = {"openapi": "3.1.0", "paths": {"/2/x": {"post": {
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "properties": {"a": {"type": ["string", "null"]}},
            "additionalProperties": False}}}}, "responses": {"200": {"description": "ok"}}}}}}
    spec = XSpec(document)
    ok = Request("POST", "/2/x", content_type="application/json", json={"a": None}, has_body=True)
    assert spec.check_request(ok) == []
    bad = Request("POST", "/2/x", content_type="application/json", json={"b": 1}, has_body=True)
    assert "'b' was unexpected" in spec.check_request(bad)[0]


# ---- requests

def check(method, path, **kw) -> list[str]:
    kw.setdefault("headers", AUTH)
    return pinned_spec().check_request(Request(method, path, **kw))


def upload(form: dict, files=("media",)) -> list[str]:
    return check("POST", "/2/media/upload", content_type="multipart/form-data", form=form,
                 files=files, has_body=True)


def test_upload_with_media_type_breaks_the_spec():
    [problem] = upload({"media_category": "tweet_image", "media_type": "image/png"})
    assert problem == ("POST /2/media/upload: request body (multipart/form-data): Additional "
                       "properties are not allowed ('media_type' was unexpected)")


def test_upload_as_the_bot_sends_it_conforms():
    assert upload({"media_category": "tweet_image"}) == []


@pytest.mark.parametrize("form, files, message", [
    ({"media_category": "image"}, ("media",), "'image' is not one of ['tweet_image'"),
    ({}, ("media",), "'media_category' is a required property"),
    ({"media_category": "tweet_image"}, (), "'media' is a required property"),
])
def test_upload_fields_are_held_to_the_schema(form, files, message):
    [problem] = upload(form, files)
    assert message in problem


def test_upload_in_another_content_type_is_refused():
    [problem] = check("POST", "/2/media/upload", content_type="text/plain", has_body=True)
    assert "content type 'text/plain' is not accepted (accepted: application/json, multipart/form-data)" in problem


def test_tweets_as_the_bot_sends_them_conform():
    body = {"text": "hi", "media": {"media_ids": ["1900000000000000001"]},
            "reply": {"in_reply_to_tweet_id": "1800000000000000001"}}
    assert check("POST", "/2/tweets", content_type="application/json", json=body, has_body=True) == []


@pytest.mark.parametrize("body, message", [
    ({"text": "hi", "media": {"media_ids": [1]}}, "1 is not of type 'string' (at $.media.media_ids[0])"),
    ({"text": "hi", "reply": {"in_reply_to_tweet_id": "x1"}}, "'x1' does not match '^[0-9]{1,19}$'"),
    ({"text": "hi", "media": {"media_ids": ["1"] * 5}}, "is too long"),
    ({"text": "hi", "tweet_mode": "extended"}, "'tweet_mode' was unexpected"),
])
def test_tweets_are_held_to_the_schema(body, message):
    [problem] = check("POST", "/2/tweets", content_type="application/json", json=body, has_body=True)
    assert message in problem


def test_alt_text_longer_than_1000_characters_breaks_the_spec():
    body = {"id": "1900000000000000001", "metadata": {"alt_text": {"text": "a" * 1001}}}
    [problem] = check("POST", "/2/media/metadata", content_type="application/json", json=body,
                      has_body=True)
    assert "is too long (at $.metadata.alt_text.text)" in problem
    body["metadata"]["alt_text"]["text"] = "a" * 1000
    assert check("POST", "/2/media/metadata", content_type="application/json", json=body,
                 has_body=True) == []


def test_a_missing_body_and_missing_credentials_are_refused():
    assert check("POST", "/2/tweets") == ["POST /2/tweets: a request body is required"]
    [problem] = check("POST", "/2/tweets", headers={}, content_type="application/json",
                      json={"text": "x"}, has_body=True)
    assert "the Authorization header fits none of OAuth2UserToken or UserToken" in problem
    assert check("POST", "/2/tweets", headers={"Authorization": "Bearer abc"},
                 content_type="application/json", json={"text": "x"}, has_body=True) == []


def test_query_parameters_are_checked():
    assert check("GET", "/2/users/me", query={"user.fields": ["description,profile_image_url"]}) == []
    problems = check("GET", "/2/users/me", query={"tweet.fields": ["id"], "user.fields": ["bio"]})
    assert problems[0] == ("GET /2/users/me: query parameter 'tweet.fields' is not allowed "
                           "(allowed: expansions, post.fields, user.fields)")
    assert "'bio' is not one of ['confirmed_email'" in problems[1]
    assert check("GET", "/2/users/me", query={"user.fields": ["name,name"]})[0].endswith(
        "has non-unique elements")


def test_timeline_parameters_are_checked():
    good = {"max_results": ["5"], "start_time": ["2024-02-29T10:00:00.000Z"],
            "end_time": ["2024-03-01T00:00:00+01:00"], "post.fields": ["created_at,conversation_id"],
            "exclude": ["replies"], "expansions": ["referenced_posts"]}
    assert check("GET", "/2/users/1800000000000000001/tweets", query=good) == []
    problems = check("GET", "/2/users/me2/tweets", query={
        "max_results": ["4"], "start_time": ["2023-02-29T10:00:00Z"], "since_id": ["abc"]})
    assert [p.split(": ", 1)[1].split(":")[0] for p in problems] == [
        "path parameter 'id'='me2'", "query parameter 'max_results'='4'",
        "query parameter 'start_time'='2023-02-29T10", "query parameter 'since_id'='abc'"]
    assert "4 is less than the minimum of 5" in problems[1]
    assert "is not a 'date-time'" in problems[2]


def test_a_path_outside_the_pinned_spec_is_refused():
    [problem] = check("GET", "/2/users/by/username/jack")
    assert problem.startswith("GET /2/users/by/username/jack: no such operation in the pinned spec")
    [problem] = check("DELETE", "/2/tweets")
    assert "no such operation" in problem


# ---- answers

def answer(method, path, status, body, ctype="application/json") -> list[str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return pinned_spec().check_response(method, path, status, ctype, data)


def test_answers_are_held_to_the_response_schema():
    assert answer("POST", "/2/tweets", 201, {"data": {"id": "1", "text": "x"}}) == []
    [problem] = answer("POST", "/2/tweets", 201, {"data": {"id": 1, "text": "x"}})
    assert problem == "POST /2/tweets: answer 201 (application/json): 1 is not of type 'string' (at $.data.id)"
    [problem] = answer("POST", "/2/media/metadata", 200, {"data": {"id": "1", "associated_metadata": True}})
    assert "True is not of type 'object' (at $.data.associated_metadata)" in problem
    [problem] = answer("POST", "/2/tweets", 201, b"")
    assert "answer 201 has no body" in problem


def test_error_answers_must_be_the_specs_error_or_problem():
    assert answer("POST", "/2/tweets", 429, {"code": 88, "message": "Rate limit exceeded"}) == []
    invalid = {"type": "https://api.x.com/2/problems/invalid-request", "title": "Invalid Request",
               "detail": "no", "status": 400}
    assert answer("POST", "/2/tweets", 400, invalid, "application/problem+json") == []
    blank = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    assert "'code' is a required property" in answer("POST", "/2/tweets", 429, blank)[0]
    assert "is not valid under any of the given schemas" in answer(
        "POST", "/2/tweets", 429, blank, "application/problem+json")[0]
    assert "answer 429 is 'text/html'" in answer("POST", "/2/tweets", 429, b"<html>", "text/html")[0]
