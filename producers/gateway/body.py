"""Read a request body into a JSON value, refusing what is too big, not UTF-8 or too deep.

Decisions: a UTF-8 byte order mark before the JSON is ignored (RFC 8259 allows a parser to,
and Windows tools write one); any other encoding is refused with 400. Nesting deeper than the
limit is refused with 422 before parsing, so no parser recursion is ever reached.
"""

from __future__ import annotations

import codecs
import json
import re

import orjson
from starlette.requests import Request

from producers.gateway.problems import Refusal
from schemas.errors import FieldProblem

# A JSON string (with escapes) or one structural character; strings are skipped whole so a
# bracket inside a summary is not counted.
_STRING = r'"(?:[^"\\]|\\.)*"'
_STRINGS = re.compile(_STRING)
_TOKENS = re.compile(_STRING + r"|[\[\]{},:]")
_STRIP_ROUNDS = 16
_PAIR = re.compile(r"\[\]|\{\}")
_ONLY_BRACKETS = {c: None for c in range(128) if chr(c) not in "[]{}"}


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        "Payload too large",
        f"the body exceeds {limit} bytes",
        [FieldProblem("", f"larger than {limit} bytes")],
    )


def decode_json(body: bytes, max_depth: int) -> object:
    """The parsed value, or a Refusal naming what is wrong (never quoting the body)."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(
            400, "Not JSON", "the body is not UTF-8 text", [FieldProblem("", "not UTF-8")]
        ) from None
    if not text.strip():
        raise Refusal(400, "Not JSON", "the body is empty", [FieldProblem("", "body is empty")])
    check_depth(text, max_depth)
    try:
        # orjson refuses what the standard parser lets through and breaks later: NaN and
        # Infinity, and lone UTF-16 surrogates that cannot be written back as UTF-8.
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        raise Refusal(
            422,
            "Invalid JSON",
            f"the body is not valid JSON ({where}: {err.msg})",
            [FieldProblem("", f"not valid JSON at {where}")],
        ) from None


def check_depth(text: str, max_depth: int) -> None:
    """422 naming the path where arrays/objects nest deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:  # cannot be too deep: skip the scan
        return
    # Fast pass: drop the strings and keep the brackets (C speed), then strip the innermost
    # pairs a few times (C speed; an event is a handful of levels, so it is gone by then).
    # Each round lowers the depth of what is left by one; count that rest, stopping at the
    # limit, so even a megabyte of brackets costs only a few scans.
    brackets = _STRINGS.sub("", text).translate(_ONLY_BRACKETS)
    rounds = 0
    while brackets and rounds < _STRIP_ROUNDS:
        brackets, stripped = _PAIR.subn("", brackets)
        if not stripped:  # unbalanced: the parser will say so, unless it is also too deep
            break
        rounds += 1
    depth, limit = 0, max_depth - rounds
    for c in brackets:
        if c in "[{":
            depth += 1
            if depth > limit:
                _refuse_depth(text, max_depth)
                return
        elif c in "]}":
            depth -= 1


def _refuse_depth(text: str, max_depth: int) -> None:
    """The slow pass, only for a body known to be too deep: find the path to report."""
    # One frame per open container: [is_object, key or index].
    stack: list[list[object]] = []
    last_string = ""
    for m in _TOKENS.finditer(text):
        tok = m.group()
        c = tok[0]
        if c == '"':
            last_string = tok
        elif c == ":":
            if stack and stack[-1][0]:
                stack[-1][1] = _key(last_string)
        elif c == ",":
            if stack and not stack[-1][0]:
                stack[-1][1] = int(stack[-1][1]) + 1  # type: ignore[call-overload]
        elif c in "[{":
            if len(stack) >= max_depth:
                path = _path(stack)
                raise Refusal(
                    422,
                    "Nested too deeply",
                    f"arrays and objects may nest at most {max_depth} levels"
                    + (f" (at {path})" if path else ""),
                    [FieldProblem(path, f"nested deeper than {max_depth} levels")],
                )
            stack.append([c == "{", "" if c == "{" else 0])
        elif stack:  # a closing bracket; a stray one is the JSON parser's to report
            stack.pop()


def _key(token: str) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        return "?"
    return key if isinstance(key, str) else "?"


def _path(stack: list[list[object]]) -> str:
    out = ""
    for is_object, at in stack:
        if is_object:
            out += f".{at}" if out else str(at)
        else:
            out += f"[{at}]"
    return out
