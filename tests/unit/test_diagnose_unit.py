"""The worker's SIGUSR1 dump: stacks by code location, never local variables."""

from __future__ import annotations

import asyncio

from streams.diagnose import consumer_state, dump, stacks


async def _inner(gate: asyncio.Event) -> None:
    phone = "13800138000"  # a local the dump must not show
    await gate.wait()
    assert phone


async def _outer(gate: asyncio.Event) -> None:
    await _inner(gate)


def test_stacks_name_every_task_and_what_it_awaits_without_locals() -> None:
    async def main() -> str:
        gate = asyncio.Event()
        task = asyncio.create_task(_outer(gate), name="case-handler")
        await asyncio.sleep(0)
        text = stacks()
        gate.set()
        await task
        return text

    text = asyncio.run(main())
    block = text[text.index("task case-handler") :]
    assert "test_diagnose_unit.py" in block and "_outer" in block
    assert "awaits" in block and "_inner" in block
    assert "thread MainThread:" in text
    assert "13800138000" not in text


def test_dump_says_when_there_is_no_producer() -> None:
    class App:
        class producer:  # noqa: N801
            @staticmethod
            def _ensure_producer() -> None:
                raise RuntimeError("Producer service not yet started")

    text = dump(App())
    assert text.startswith("thread ")
    assert text.endswith("\nproducer: (no producer: RuntimeError)")


def test_consumer_state_lists_partitions_by_topic() -> None:
    from aiokafka.structs import TopicPartition as TP

    class Consumer:
        _active_partitions = {TP("fq.intake", 1), TP("fq.intake", 0)}
        _paused_partitions = {TP("fq.intake", 1)}
        _buffered_partitions: set[TP] = set()

        def assignment(self) -> set[TP]:
            return self._active_partitions | {TP("fq.sla", 0)}

    assert consumer_state(Consumer()) == (
        "assigned=3 active=[fq.intake[0], fq.intake[1]] paused=[fq.intake[1]] buffered=[]"
    )
    assert consumer_state(None) == "assigned=-1 active=? paused=? buffered=?"
