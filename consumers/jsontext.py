"""How the case store writes its JSON columns: orjson, at a fraction of the standard library's
cost (it was a third of the sink's time in the database), and the standard library for what
orjson does not write (an integer beyond 64 bits, a key that is not a string).

The text differs only in form (no spaces, characters not escaped), never in what it reads
back as, with one exception: NaN and infinities, which JSON does not have, are written as
``null`` (PostgreSQL's JSON types refuse them, so on SQLite they were a row PostgreSQL could
not take). Events reach the store through pydantic or orjson, which already write them so.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)
