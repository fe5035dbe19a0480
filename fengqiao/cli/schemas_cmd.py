"""``fengqiao schemas export DIR``: JSON Schema per event type and the AsyncAPI 3.0 document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def export(
    directory: Path, topic_prefix: str = "", bootstrap: str = "127.0.0.1:9092"
) -> list[Path]:
    """Write ``<type>.schema.json`` for every event type and ``asyncapi.json``; returns paths."""
    from schemas.events import ALL_TYPES
    from schemas.export import asyncapi, json_schema

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for type_ in sorted(ALL_TYPES):
        path = directory / f"{type_}.schema.json"
        path.write_text(json.dumps(json_schema(type_), ensure_ascii=False, indent=2) + "\n")
        written.append(path)
    path = directory / "asyncapi.json"
    doc = asyncapi(topic_prefix=topic_prefix, bootstrap=bootstrap)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    written.append(path)
    return written


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="The event contracts as JSON Schema and AsyncAPI.", no_args_is_help=True
    )
    app.add_typer(group, name="schemas")

    @group.command("export")
    def export_cmd(
        directory: Annotated[Path, typer.Argument(help="Directory to write into (created)")],
    ) -> None:
        """Write a JSON Schema per event type and an AsyncAPI 3.0 document of every topic."""
        from fengqiao.cli import console, settings

        s = settings()
        paths = export(directory, topic_prefix=s.topic_prefix, bootstrap=s.resolved_bootstrap())
        for p in paths:
            console.print(f"wrote {p}")
        console.print(f"{len(paths) - 1} JSON Schemas and asyncapi.json in {directory}")
