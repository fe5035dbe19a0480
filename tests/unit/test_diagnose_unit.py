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


def test_recovery_state_shows_each_changelog_partition_beside_what_recovery_waits_for() -> None:
    from collections import Counter
    from types import SimpleNamespace

    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition as TP

    from streams.runtime.probe import recovery_state

    read_tp, stuck_tp, stream_tp = (
        TP("fq-seen-changelog", 0),
        TP("fq-inc-changelog", 2),
        TP("fq.intake", 0),
    )

    async def build() -> str:
        # aiokafka's own subscription state: a rename there fails here
        subscription = SubscriptionState()
        subscription.assign_from_user({read_tp, stuck_tp, stream_tp})
        assignment = subscription.subscription.assignment
        assignment.state_value(read_tp).seek(64)
        assignment.state_value(read_tp).highwater = 64
        assignment.state_value(stuck_tp).await_reset(1)
        recovery = SimpleNamespace(
            active_offsets=Counter({read_tp: 63}),
            active_highwaters=Counter({read_tp: 63, stuck_tp: 181}),
        )
        consumer = SimpleNamespace(
            _thread=SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription)),
            app=SimpleNamespace(tables=SimpleNamespace(recovery=recovery), in_recovery=True),
            _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"),
        )
        text = recovery_state(consumer)
        consumer.app.in_recovery = False
        return text + " | " + recovery_state(consumer)

    text = asyncio.run(build())
    assert text == (
        "fq-inc-changelog[2] pos=None hw=None read=None needs=181 reset=1; "
        "fq-seen-changelog[0] pos=64 hw=64 read=63 needs=63 | (not recovering)"
    )
    assert recovery_state(None).startswith("(not readable:")


def test_fetch_state_shows_each_stream_partition_beside_what_admission_expects() -> None:
    from types import SimpleNamespace

    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition as TP

    from streams.runtime.probe import fetch_state

    flowing, held, changelog = TP("fq.intake", 1), TP("fq.intake", 0), TP("fq-seen-changelog", 0)

    async def build() -> str:
        subscription = SubscriptionState()
        subscription.assign_from_user({flowing, held, changelog})
        assignment = subscription.subscription.assignment
        assignment.state_value(flowing).seek(5)
        assignment.state_value(flowing).highwater = 9
        assignment.state_value(held).pause()
        admission = SimpleNamespace(next={flowing: 5}, held={held: 3}, dropped=2, rewound=1)
        consumer = SimpleNamespace(
            _thread=SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription)),
            _fq_admission=admission,
            _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"),
        )
        return fetch_state(consumer)

    assert asyncio.run(build()) == (
        "dropped=2 rewound=1 fq.intake[0] pos=None hw=None next=None held=3 paused; "
        "fq.intake[1] pos=5 hw=9 next=5"
    )
