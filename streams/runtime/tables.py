"""Which partition each row of a faust memory-store table belongs to.

faust's memory store keeps that map (``_key_partition``) to forget the rows of revoked
partitions; the worker writes its tables' rows itself (``streams.app.write_table``), so it keeps
the map up to date, and reads it for timer ticks instead of hashing every key of the table.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any


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
