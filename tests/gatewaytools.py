"""An in-process gateway for tests: a real key store (SQLite), the in-memory sender, real HTTP."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from fengqiao.cli.gateway_cmd import gateway_config
from fengqiao.settings import Settings
from producers.gateway import MemorySender, create_app
from producers.keystore import KeyStore
from producers.sample import dispute
from tests.httptools import serve

SOURCE = "hotline/12348"
WHEN = datetime.now(UTC) - timedelta(minutes=5)


def event(n: int, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("street", "puzhou")
    ev = dispute(random.Random(n), f"gw-{n}", WHEN, **overrides)
    ev["source"] = SOURCE
    return ev


@dataclass
class MemoryGateway:
    app: FastAPI
    store: KeyStore
    sender: MemorySender
    key: str

    def sent_ids(self, topic: str = "intake.disputes") -> list[str]:
        import json

        return [json.loads(v)["id"] for _, v in self.sender.sent.get(topic, [])]


def memory_gateway(home: Path, **settings: Any) -> MemoryGateway:
    config = gateway_config(Settings(home=home, **settings))
    store = KeyStore(config.db_url)
    sender = MemorySender(config.publisher)
    app = create_app(config, store=store, sender=sender)
    return MemoryGateway(app, store, sender, store.create(SOURCE)[1])


@contextmanager
def served(gw: MemoryGateway) -> Iterator[str]:
    with serve(gw.app) as url:
        yield url
