"""Read intake events from files: JSON lines of envelopes, or CSV in a flat column layout.

CSV layout: the header names each column by its dotted path in the envelope, list items by
their index, e.g. ``id,source,time,data.street,data.category,data.parties.0.role,...``.
An empty cell means "field absent"; cells are text and are converted by the contract (counts,
amounts, true/false). ``type`` may be left out: the kind given on the command line decides it.
Unknown columns are kept as unknown fields. Every row or line keeps its line number for reports.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import FieldProblem


@dataclass
class Row:
    """One record of a file: its line number, the event built from it, or what was wrong."""

    line: int
    event: dict[str, Any] | None
    problems: list[FieldProblem] = field(default_factory=list)
    kind: str | None = None


def detect_format(path: Path) -> str:
    if path.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "jsonl"


def read_jsonl(path: Path) -> Iterator[Row]:
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except UnicodeDecodeError:
                yield Row(n, None, [FieldProblem("", "line is not UTF-8 text")])
                continue
            except json.JSONDecodeError as err:
                yield Row(
                    n, None, [FieldProblem("", f"not valid JSON ({err.msg}, column {err.colno})")]
                )
                continue
            if not isinstance(obj, dict):
                yield Row(n, None, [FieldProblem("", "line must be a JSON object (an envelope)")])
                continue
            yield Row(n, obj)


def _set_path(target: dict[str, Any], parts: list[str], value: str) -> None:
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_is_index = not last and parts[i + 1].isdigit()
        if isinstance(node, list):
            idx = int(part)
            while len(node) <= idx:
                node.append(None)
            if last:
                node[idx] = value
            else:
                if node[idx] is None:
                    node[idx] = [] if nxt_is_index else {}
                node = node[idx]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt_is_index else {})


class LayoutError(ValueError):
    """The CSV header cannot be mapped to an envelope."""


def check_header(header: list[str]) -> list[list[str]]:
    paths = []
    seen: set[str] = set()
    for col in header:
        name = col.strip()
        if not name:
            raise LayoutError("the header has an empty column name")
        if name in seen:
            raise LayoutError(f"the header repeats column {name!r}")
        seen.add(name)
        parts = name.split(".")
        if any(not p for p in parts) or parts[0].isdigit():
            raise LayoutError(f"column {name!r} is not a dotted path like data.street")
        paths.append(parts)
    return paths


def read_csv(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        paths = check_header(header)
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(paths):
                yield Row(
                    line,
                    None,
                    [
                        FieldProblem(
                            "",
                            f"row has {len(cells)} cells but the header names {len(paths)} columns",
                        )
                    ],
                )
                continue
            event: dict[str, Any] = {}
            for parts, cell in zip(paths, cells, strict=False):
                if cell.strip() == "":
                    continue
                _set_path(event, parts, cell.strip())
            _drop_holes(event)
            yield Row(line, event)


def _drop_holes(node: Any) -> None:
    """List items whose cells were all empty are left out (a row with fewer parties)."""
    if isinstance(node, dict):
        for v in node.values():
            _drop_holes(v)
    elif isinstance(node, list):
        node[:] = [v for v in node if v is not None]
        for v in node:
            _drop_holes(v)


def read_events(path: Path, fmt: str = "auto") -> Iterator[Row]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    return read_csv(path) if fmt == "csv" else read_jsonl(path)
