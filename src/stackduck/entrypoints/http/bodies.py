"""What the HTTP API accepts in a request body, and nothing else.

A body is UTF-8 JSON: an object whose fields are the ones a call names, each of
its exact JSON type (a boolean is ``true`` or ``false``, never ``"false"`` or
``0``). Anything else — another type, an unknown or repeated field, text that is
not JSON or not UTF-8 — is refused with a message that names the field, so a
mistyped request changes nothing instead of meaning something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from stackduck.domain.errors import InvalidJob

Check = Callable[[str, Any], None]


def boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidJob(f"{name} must be true or false (a JSON boolean), not {_kind(value)}")


def text(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidJob(f"{name} must be a string, not {_kind(value)}")


def whole(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"{name} must be a whole number, not {_kind(value)}")


def number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJob(f"{name} must be a number, not {_kind(value)}")


def ids(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise InvalidJob(f"{name} must be a list of job id strings, not {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            what = "an empty string" if item == "" else _kind(item)
            raise InvalidJob(f"{name} must be a list of job id strings; item {index} is {what}")


class _Repeated(ValueError):
    pass


async def json_object(request: web.Request, fields: Mapping[str, Check], shape: str) -> dict[str, Any]:
    """The request's JSON object, every field checked; an empty body is ``{}``.
    ``shape`` says what to send instead, for the messages."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique)
    except UnicodeDecodeError:
        raise InvalidJob(f"the body is not UTF-8; {shape}") from None
    except _Repeated as exc:
        raise InvalidJob(f"{exc} is given twice; {shape}") from None
    except (ValueError, RecursionError):
        raise InvalidJob(f"the body is not JSON; {shape}") from None
    if not isinstance(body, dict):
        raise InvalidJob(f"the body must be a JSON object, not {_kind(body)}; {shape}")
    for name, value in body.items():
        check = fields.get(name)
        if check is None:
            raise InvalidJob(f"unknown field {name!r}; {shape}")
        check(name, value)
    return body


async def form_field(request: web.Request, name: str) -> str:
    """The one value of ``name`` in a form post (application/x-www-form-urlencoded)."""
    shape = f"post a form (application/x-www-form-urlencoded) with the field {name}"
    if request.content_type != "application/x-www-form-urlencoded":
        raise InvalidJob(shape)
    try:
        pairs = parse_qsl((await request.read()).decode("utf-8"), errors="strict")
    except UnicodeDecodeError:
        raise InvalidJob(f"the form is not UTF-8; {shape}") from None
    values = [value for key, value in pairs if key == name]
    if len(values) != 1:
        raise InvalidJob(f"{name} {'is missing' if not values else 'is given twice'}; {shape}")
    return values[0]


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


def _kind(value: Any) -> str:
    """A value's JSON type, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
