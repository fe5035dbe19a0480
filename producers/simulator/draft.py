"""An intake event being generated: its data, its moment and what the manifest needs to know
about it (the planted incident it belongs to, the petition it repeats). Ids come last, once
every event of the year is in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Draft:
    kind: str
    time: datetime
    data: dict[str, Any]
    channel: str
    tag: str = ""  # planted incident id, for the manifest
    repeat_of: Draft | None = None  # a repeated petition: the first one
    event_id: str = ""
