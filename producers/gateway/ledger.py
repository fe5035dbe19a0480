"""Idempotency: an event is written once per (source, idempotency key), however often it is sent.

Three layers, cheapest first: a request that repeats a key still in flight waits for that
request's outcome; a key recorded before is answered from the key store; only the rest is
written to Kafka, and recorded after the broker's ack. Reads and writes of the records go
through group commits, so many concurrent requests share one database round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from producers.gateway.coalesce import Coalescer
from producers.gateway.sender import KafkaUnavailable
from producers.keystore import KeyStore
from schemas.parse import ParsedEvent

Key = tuple[str, str]  # (source, idempotency key)


class Ledger:
    """Writes events not accepted before, via ``send``; one instance per gateway process."""

    def __init__(self, store: KeyStore, send: Callable[[list[ParsedEvent]], Awaitable[None]]):
        self._send = send
        self._inflight: dict[Key, asyncio.Future[str]] = {}
        self._seen: Coalescer[list[Key], dict[Key, str]] = Coalescer(
            lambda rounds: _split(store.accepted_pairs([k for r in rounds for k in r]), rounds),
            in_thread=not store.is_local,
        )
        self._record: Coalescer[list[tuple[Key, str]], dict[Key, str]] = Coalescer(
            lambda rounds: _split(
                store.remember_pairs([(s, k, e) for r in rounds for (s, k), e in r]),
                [[key for key, _ in r] for r in rounds],
            ),
            in_thread=not store.is_local,
        )

    async def publish_once(
        self, source: str, items: list[tuple[str, ParsedEvent]]
    ) -> tuple[list[str], int]:
        """(event id per item, how many were not written by this call: accepted before)."""
        keys: list[Key] = [(source, idem) for idem, _ in items]
        mine: dict[Key, tuple[asyncio.Future[str], ParsedEvent]] = {}
        others: dict[Key, asyncio.Future[str]] = {}
        loop = asyncio.get_running_loop()
        for key, (_, parsed) in zip(keys, items, strict=True):
            if key in mine or key in others:
                continue  # within one batch, a repeated key is written once
            running = self._inflight.get(key)
            if running is not None:
                others[key] = running
            else:
                fut: asyncio.Future[str] = loop.create_future()
                self._inflight[key] = fut
                mine[key] = (fut, parsed)
        ids: dict[Key, str] = {}
        written: list[Key] = []
        try:
            if mine:
                ids.update(await self._seen.submit(list(mine)))
                written = [k for k in mine if k not in ids]
                if written:
                    await self._send([mine[k][1] for k in written])
                    held = await self._record.submit([(k, mine[k][1].envelope.id) for k in written])
                    ids.update(held)
            for key, (fut, _) in mine.items():
                fut.set_result(ids[key])
        except BaseException as err:
            failure = err if isinstance(err, Exception) else KafkaUnavailable("request cancelled")
            for fut, _ in mine.values():
                if not fut.done():
                    fut.set_exception(failure)
                    fut.exception()  # retrieved: only the waiting requests need it
            raise
        finally:
            for key in mine:
                self._inflight.pop(key, None)
        for key, fut in others.items():
            ids[key] = await fut
        return [ids[k] for k in keys], len(items) - len(written)


def _split(found: dict[Key, str], rounds: list[list[Key]]) -> list[dict[Key, str]]:
    """One answer per submitted round, holding only that round's keys."""
    return [{k: found[k] for k in r if k in found} for r in rounds]
