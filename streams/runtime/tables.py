"""Which partition each row of a faust memory-store table belongs to.

faust's memory store keeps that map (``_key_partition``) to forget the rows of revoked
partitions; the worker writes its tables' rows itself (``streams.app.table_records``), so it keeps
the map up to date, and reads it for timer ticks instead of hashing every key of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import faust.utils.json as fjson
import orjson


def key_partitions(table: Any) -> MutableMapping[Any, int] | None:
    """The table's row → partition map, or ``None`` when its store keeps none."""
    found = getattr(table.data, "_key_partition", None)
    return found if isinstance(found, MutableMapping) else None


def rows(table: Any) -> Mapping[Any, Any]:
    """The dict under a faust memory-store table, for reads (the table's own reads cost a
    sensor call, three layers of UserDict, and an exception for a missing key); the table
    itself when its store keeps none. Writes still go through the table's store."""
    found = getattr(getattr(table, "data", None), "data", None)
    return found if isinstance(found, dict) else table


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def json_encoder(table: Any) -> Callable[[Any], bytes] | None:
    """What faust's ``json`` codec writes for a key or value of ``table``'s changelog, without
    its layers (the channel's schema, the codec registry, the codec): the same
    ``orjson.dumps`` call with the same options and fallback, so the bytes are the same.
    ``None`` when the table uses another serializer or faust's json is not orjson's."""
    if table.key_serializer != "json" or table.value_serializer != "json":
        return None
    if getattr(fjson, "orjson", None) is None:
        return None
    on_default = fjson.on_default

    def encode(obj: Any) -> bytes:
        return orjson.dumps(obj, default=on_default, option=_OPTIONS)

    return encode
