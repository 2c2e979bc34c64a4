"""Requests and answers checked against X's own OpenAPI document (the pinned copy).

`x_openapi.json` next to this file is the part of X API v2's OpenAPI document the
bot uses, cut by scripts/pin_x_spec.py (its `x-pinned` header says from where).
`XSpec` checks one HTTP exchange against it:

- `check_request`: the operation is found by method and path template; path and
  query parameters against their declared schemas (required ones present, unknown
  ones refused; `style: form` arrays are comma-separated unless `explode`);
  the body's content type must be one the requestBody lists, and the body is
  validated against that content's schema: JSON as parsed, multipart/form-data
  and urlencoded fields as an object of their values (a file part counts as a
  present string, text fields are converted to the property's declared type);
  the Authorization header must fit one of the operation's security schemes.
- `check_response`: the answer's status picks the response (exact, then `2XX`,
  then `default`), its content type the media type, and the JSON body is
  validated against that schema.

Each returns a list of messages (empty when the exchange conforms), each naming
the operation, the part and the schema's own message.

OpenAPI 3.0 schemas are not JSON Schema: they are translated before use
(`nullable` -> a "null" type, boolean exclusiveMinimum/Maximum -> numbers, the
siblings of a `$ref` dropped as 3.0 ignores them, `discriminator`, `example`,
`xml`, `externalDocs` and `x-` keys dropped). A 3.1 document is JSON Schema 2020-12
already and is used as it is. Formats are checked: date-time (RFC 3339), int32,
int64, byte (base64); binary and double accept anything of the right type.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PINNED = Path(__file__).with_name("x_openapi.json")
BASE_URI = "urn:x-openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecViolation(AssertionError):
    """A request or answer that breaks X's published API spec."""


# ---- OpenAPI 3.0 schema -> JSON Schema 2020-12

_DROPPED = {"nullable", "discriminator", "example", "xml", "externalDocs"}


def convert_schema(node: Any) -> Any:
    """A 3.0 Schema Object as JSON Schema 2020-12."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": node["$ref"]}  # 3.0: "sibling values alongside a $ref SHALL be ignored"
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: convert_schema(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = convert_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert_schema(s) for s in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
        else:
            out[key] = value
    for key in ("exclusiveMinimum", "exclusiveMaximum"):  # draft 4 style: the bound moved over
        if node.get(key) is True:
            out.pop("minimum" if key == "exclusiveMinimum" else "maximum", None)
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _convert_document(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every Schema Object converted: components/schemas and every
    `schema` of a parameter, header or media type; everything else copied."""
    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        return {key: convert_schema(value) if key == "schema" and isinstance(value, dict)
                else walk(value) for key, value in node.items()}

    out = walk({key: value for key, value in document.items() if key != "components"})
    components = dict(document.get("components", {}))
    schemas = components.pop("schemas", {})
    out["components"] = walk(components)
    out["components"]["schemas"] = {name: convert_schema(s) for name, s in schemas.items()}
    return out


# ---- formats

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ValueError: no such date
    return True


@_FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@_FORMATS.checks("byte", raises=(binascii.Error, ValueError))
def _is_byte(value: object) -> bool:
    if isinstance(value, str) and not isinstance(value, _Binary):
        base64.b64decode(value, validate=True)
    return True


class _Binary(str):
    """The value standing in for a file part: a present string, any content."""


# ---- the spec

@dataclass
class Request:
    """One request as the validator needs it."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None  # the media type without parameters, lower case
    json: Any = None  # the parsed body for JSON
    form: Mapping[str, str] = field(default_factory=dict)  # text fields of form bodies
    files: tuple[str, ...] = ()  # names of file parts
    has_body: bool = False
    unparsed: str | None = None  # why the body could not be read, if it could not


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pointer: str  # JSON pointer of the operation object
    regex: re.Pattern[str]
    path_names: tuple[str, ...]  # of the template's {parameters}, in order
    spec: dict[str, Any]
    parameters: tuple[tuple[dict[str, Any], str], ...]  # (parameter, its schema's pointer)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.template}"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class XSpec:
    """X's API as one OpenAPI document says it is."""

    def __init__(self, document: dict[str, Any]) -> None:
        version = str(document.get("openapi", ""))
        if version.startswith("3.0."):
            self.document = _convert_document(document)
        elif version.startswith("3.1."):
            self.document = document  # its schemas are JSON Schema 2020-12
        else:
            raise ValueError(f"unsupported OpenAPI version {version!r} (3.0.x and 3.1.x are)")
        self.openapi = version
        self.pinned = document.get("x-pinned", {})
        resource = Resource(contents=self.document, specification=DRAFT202012)
        self._registry = Registry().with_resource(BASE_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self.operations = self._operations()

    @classmethod
    def load(cls, path: Path = PINNED) -> XSpec:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    # -- lookup
    def _operations(self) -> list[_Operation]:
        found = []
        for template, item in self.document.get("paths", {}).items():
            base = f"/paths/{_escape(template)}"
            shared = [self._parameter(p, f"{base}/parameters/{i}")
                      for i, p in enumerate(item.get("parameters", []))]
            parts = re.split(r"\{([^}/]+)\}", template)  # literal, name, literal, name, ...
            regex = re.compile("^" + "".join(
                "([^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)) + "$")
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                own = [self._parameter(p, f"{base}/{method}/parameters/{i}")
                       for i, p in enumerate(op.get("parameters", []))]
                names = {(p["name"], p["in"]) for p, _ in own}
                params = tuple(own + [s for s in shared if (s[0]["name"], s[0]["in"]) not in names])
                found.append(_Operation(method, template, f"{base}/{method}", regex,
                                        tuple(parts[1::2]), op, params))
        # literal segments win over templated ones (/2/users/me before /2/users/{id})
        found.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
        return found

    def _parameter(self, node: Any, pointer: str) -> tuple[dict[str, Any], str]:
        """(the Parameter Object, pointer of its schema), following $refs."""
        for _ in range(50):
            if not (isinstance(node, dict) and "$ref" in node):
                return node, pointer + "/schema"
            pointer = node["$ref"].removeprefix("#")
            node = self._pointer(pointer)
        raise ValueError(f"$ref loop at {pointer}")

    def find(self, method: str, path: str) -> tuple[_Operation, dict[str, str]] | None:
        for op in self.operations:
            match = op.regex.match(path)
            if match and op.method == method.lower():
                return op, {name: unquote(value) for name, value in zip(op.path_names, match.groups())}
        return None

    def _deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self._pointer(node["$ref"].removeprefix("#"))
            seen += 1
            if seen > 50:
                raise ValueError("$ref loop")
        return node

    def _pointer(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{BASE_URI}#{pointer}"}, registry=self._registry,
                format_checker=_FORMATS)
        return self._validators[pointer]

    def _errors(self, pointer: str, instance: Any) -> str | None:
        error = best_match(self._validator(pointer).iter_errors(instance))
        if error is None:
            return None
        message = error.message
        if len(message) > 400:  # it quotes the instance, which may be long
            message = message[:300] + " [...] " + message[-80:]
        where = error.json_path if error.json_path != "$" else ""
        return message + (f" (at {where})" if where else "")

    # -- requests
    def check_request(self, request: Request) -> list[str]:
        found = self.find(request.method, request.path)
        if found is None:
            known = ", ".join(sorted({o.label for o in self.operations}))
            return [f"{request.method.upper()} {request.path}: no such operation in the pinned "
                    f"spec (it has {known})"]
        op, path_values = found
        problems = [f"{op.label}: {p}" for p in (
            self._check_security(op, request.headers)
            + self._check_parameters(op, request, path_values)
            + self._check_body(op, request))]
        return problems

    def _check_security(self, op: _Operation, headers: Mapping[str, str]) -> list[str]:
        alternatives = op.spec.get("security", self.document.get("security"))
        if not alternatives:
            return []
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        for requirement in alternatives:
            if all(_satisfies(schemes.get(name, {}), auth, headers) for name in requirement):
                return []
        wanted = " or ".join("+".join(r) or "none" for r in alternatives)
        return [f"credentials: the Authorization header fits none of {wanted}"]

    def _check_parameters(self, op: _Operation, request: Request,
                          path_values: dict[str, str]) -> list[str]:
        problems = []
        declared = {(p["name"], p["in"]) for p, _ in op.parameters}
        for name in request.query:
            if (name, "query") not in declared:
                allowed = sorted(n for n, where in declared if where == "query")
                problems.append(f"query parameter {name!r} is not allowed "
                                f"(allowed: {', '.join(allowed) or 'none'})")
        for param, pointer in op.parameters:
            name, where = param["name"], param["in"]
            if where == "path":
                raw = [path_values[name]] if name in path_values else []
            elif where == "query":
                raw = list(request.query.get(name, []))
            elif where == "header":
                raw = [v for k, v in request.headers.items() if k.lower() == name.lower()]
            else:
                continue  # cookies: X declares none
            if not raw:
                if param.get("required"):
                    problems.append(f"{where} parameter {name!r} is required")
                continue
            schema = self._deref(param.get("schema", {}))
            value = _parameter_value(raw, param, schema, self._deref)
            if (message := self._errors(pointer, value)) is not None:
                problems.append(f"{where} parameter {name!r}={','.join(raw)!r}: {message}")
        return problems

    def _check_body(self, op: _Operation, request: Request) -> list[str]:
        body = self._deref(op.spec.get("requestBody")) if "requestBody" in op.spec else None
        if body is None:
            if request.has_body:
                return [f"a body ({request.content_type}) where the operation takes none"]
            return []
        if not request.has_body:
            return ["a request body is required"] if body.get("required") else []
        content = body.get("content", {})
        media = _media_type(request.content_type or "", content)
        if media is None:
            return [f"content type {request.content_type!r} is not accepted "
                    f"(accepted: {', '.join(content)})"]
        if request.unparsed is not None:
            return [f"request body ({media}) could not be read: {request.unparsed}"]
        pointer = self._body_pointer(op, media)
        schema = self._deref(content[media].get("schema", {}))
        if media == "application/json" or media.endswith("+json"):
            instance = request.json
        else:
            instance = _form_instance(request.form, request.files, schema, self._deref)
        message = self._errors(pointer, instance)
        return [] if message is None else [f"request body ({media}): {message}"]

    def _body_pointer(self, op: _Operation, media: str) -> str:
        ref = op.spec["requestBody"].get("$ref")
        base = ref.removeprefix("#") if ref else f"{op.pointer}/requestBody"
        return f"{base}/content/{_escape(media)}/schema"

    # -- answers
    def check_response(self, method: str, path: str, status: int, content_type: str | None,
                       body: bytes) -> list[str]:
        found = self.find(method, path)
        if found is None:
            return []  # the request was already reported
        op, _ = found
        responses = op.spec.get("responses", {})
        key = next((k for k in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default")
                    if k in responses), None)
        if key is None:
            return [f"{op.label}: answer status {status} is not declared "
                    f"(declared: {', '.join(responses)})"]
        response = self._deref(responses[key])
        content = response.get("content", {})
        if not body:
            return [] if not content else [
                f"{op.label}: answer {status} has no body, the spec gives it {', '.join(content)}"]
        media = _media_type(content_type or "", content)
        if media is None:
            return [f"{op.label}: answer {status} is {content_type!r}, the spec gives "
                    f"{', '.join(content) or 'no body'}"]
        try:
            instance = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return [f"{op.label}: answer {status} is not JSON: {exc}"]
        ref = responses[key].get("$ref")
        base = ref.removeprefix("#") if ref else f"{op.pointer}/responses/{_escape(key)}"
        message = self._errors(f"{base}/content/{_escape(media)}/schema", instance)
        return [] if message is None else [f"{op.label}: answer {status} ({media}): {message}"]


@cache
def pinned_spec() -> XSpec:
    """The pinned document, loaded once."""
    return XSpec.load()


# ---- helpers

def _media_type(content_type: str, content: Mapping[str, Any]) -> str | None:
    """The key of `content` that `content_type` falls under, most specific first."""
    media = content_type.split(";")[0].strip().lower()
    if media in content:
        return media
    major = media.split("/")[0]
    for key in (f"{major}/*", "*/*"):
        if key in content:
            return key
    return None


def _satisfies(scheme: Mapping[str, Any], auth: str, headers: Mapping[str, str]) -> bool:
    kind = scheme.get("type")
    if kind == "http":
        return auth.lower().startswith(str(scheme.get("scheme", "")).lower() + " ")
    if kind in ("oauth2", "openIdConnect"):
        return auth.lower().startswith("bearer ")
    if kind == "apiKey" and scheme.get("in") == "header":
        return any(k.lower() == str(scheme.get("name", "")).lower() for k in headers)
    return False


def _type_of(schema: Mapping[str, Any], deref) -> str | None:
    schema = deref(schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                if (kind := _type_of(sub, deref)) is not None:
                    return kind
    return kind


def _scalar(text: str, schema: Mapping[str, Any], deref) -> Any:
    """`text` as the type the schema declares; unchanged when it does not parse (the
    schema then reports the wrong type)."""
    kind = _type_of(schema, deref)
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "number":
        try:
            return float(text) if not re.fullmatch(r"-?\d+", text) else int(text)
        except ValueError:
            return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _parameter_value(raw: list[str], param: Mapping[str, Any], schema: Mapping[str, Any],
                     deref) -> Any:
    kind = _type_of(schema, deref)
    if kind == "array":
        style = param.get("style", "form" if param.get("in") in ("query", "cookie") else "simple")
        explode = param.get("explode", style == "form")
        items = deref(schema.get("items", {}))
        values = raw if explode else [v for text in raw for v in text.split(
            {"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ","))]
        return [_scalar(v, items, deref) for v in values]
    if len(raw) > 1:
        return raw  # a scalar given twice: the schema reports an array where it wants one value
    return _scalar(raw[0], schema, deref)


def _form_instance(form: Mapping[str, str], files: tuple[str, ...], schema: Mapping[str, Any],
                   deref) -> dict[str, Any]:
    """A form body as the object its schema describes."""
    properties = deref(schema).get("properties", {})
    instance: dict[str, Any] = {}
    for name, text in form.items():
        prop = properties.get(name)
        if prop is not None and _type_of(prop, deref) in ("object", "array"):
            try:
                instance[name] = json.loads(text)
                continue
            except ValueError:
                pass
        instance[name] = _scalar(text, prop, deref) if prop is not None else text
    for name in files:
        instance[name] = _Binary("")
    return instance
