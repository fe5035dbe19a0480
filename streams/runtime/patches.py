"""Every fix the worker installs into faust and mode, what each replaces, the upstream issue
it answers and the test that proves it; ``apply`` installs them all or raises.

The fixes were written for the versions in ``versions.TESTED`` and are refused on others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust.serializers.schemas as fss
import faust.streams as fs
import faust.transport.consumer as fc
import faust.transport.drivers.aiokafka as fa
import faust.transport.producer as fp
import mode.utils.queues as mq

from streams.runtime import delivery, fetch, offsets, producer, stream
from streams.runtime.offsets import STALL_S
from streams.runtime.recovering import RECOVERY_STALL_S

log = logging.getLogger("fengqiao.worker.runtime")


class RuntimeNotPatched(RuntimeError):
    """The fixes cannot be installed into this faust."""


@dataclass(frozen=True)
class Patch:
    name: str
    owner: Any  # the class whose attribute is replaced
    attribute: str
    replaces: str
    upstream: str
    test: str
    # the new attribute: given the original when ``wraps``, else the function itself
    make: Callable[..., Any]
    wraps: bool = False


OFFSETS = "tests/inprocess/test_offsets_unit.py"
PATCHES: tuple[Patch, ...] = (
    Patch(
        "ack-when-finished",
        fs.Stream,
        "_c_aiter",
        "the compiled stream iterator's loop, which acknowledged messages skipped during a "
        "stop or rebalance and the one in flight when the agent was cancelled",
        "faust-streaming #527 (robinhood/faust #604): offsets skipped after an exception or "
        "a rebalance",
        f"{OFFSETS}::test_only_a_message_the_agent_finished_is_acknowledged",
        lambda: stream.c_aiter,
    ),
    Patch(
        "commit-rule",
        fc.Consumer,
        "_new_offset",
        "the offset to commit, off by one against the committed offset and unchecked when it "
        "was 0 or unknown",
        "faust-streaming #606 (fixed by PR #707, open), #312",
        f"{OFFSETS}::test_the_consumer_never_commits_over_an_unacknowledged_message",
        lambda: offsets.commit_offset,
    ),
    Patch(
        "seek-to-committed",
        fc.Consumer,
        "perform_seek",
        "the seek after every rebalance, which left partitions without a committed offset "
        "where the fetcher was and kept a stale committed offset",
        "faust-streaming #216/#217 (seek after resume), #318",
        f"{OFFSETS}::test_every_partition_is_sought_to_its_committed_or_earliest_offset",
        lambda: offsets.perform_seek,
    ),
    Patch(
        "no-gaps-as-acks",
        fc.Consumer,
        "_add_gap",
        "counting every offset the fetcher jumped over as acknowledged",
        "faust-streaming #606 (gaps taken as processed), #596 (gaps block commits)",
        f"{OFFSETS}::test_a_jump_in_offsets_is_not_counted_as_processed",
        lambda: offsets.add_no_gap,
    ),
    Patch(
        "admission-state",
        fc.Consumer,
        "__init__",
        "the consumer's read mark, which dropped records read again after a seek",
        "faust-streaming #221/#223 (prefetched records after a rebalance), #596",
        f"{OFFSETS}::test_a_consumer_has_admission_and_no_read_mark",
        offsets.consumer_init,
        wraps=True,
    ),
    Patch(
        "admission",
        fc.Consumer,
        "getmany",
        "delivering every fetched record, in whatever order a seek left them",
        "faust-streaming #221/#223, #596",
        f"{OFFSETS}::test_getmany_delivers_in_order_and_rewinds_what_was_held",
        offsets.admitting_getmany,
        wraps=True,
    ),
    Patch(
        "refetch-cleared",
        mq.FlowControlEvent,
        "clear",
        "dropping what the streams had buffered on every flow-control resume",
        "faust-streaming #596 (recovery clears queues: unrecoverable gaps)",
        f"{OFFSETS}::test_clearing_the_flow_refetches_what_was_not_acknowledged",
        offsets.clear_notifying,
        wraps=True,
    ),
    Patch(
        "forget-revoked",
        fc.Consumer,
        "on_partitions_revoked",
        "keeping the delivery position of a revoked partition",
        "faust-streaming #221/#223",
        f"{OFFSETS}::test_revoked_partitions_are_forgotten_before_faust_revokes_them",
        offsets.revoked_forgotten,
        wraps=True,
    ),
    Patch(
        "fetch-loop",
        fc.Consumer,
        "_drain_messages",
        "the fetch loop's four tasks and an asyncio.wait per record (a third of the CPU)",
        "none: performance (the delivery rules are faust's)",
        f"{OFFSETS}::test_the_fetch_loop_delivers_without_a_task_unless_the_callback_waits",
        lambda: fetch.drain_messages,
    ),
    Patch(
        "fetch-settings",
        fa.AIOKafkaConsumerThread,
        "_create_worker_consumer",
        "the fixed fetch wait (1.5 s) and one-byte minimum of the worker's consumer",
        "none: performance (faust offers no setting for them)",
        f"{OFFSETS}::test_the_worker_consumer_gets_the_fetch_settings_of_the_app",
        fetch.with_fetch_settings,
        wraps=True,
    ),
    Patch(
        "raw-decode",
        fss.Schema,
        "compile",
        "the compiled decode of a raw-bytes schema, which went through the codec registry "
        "twice per record to return the record's own bytes",
        "none: performance",
        f"{OFFSETS}::test_a_raw_schema_decodes_to_the_event_faust_would_make",
        delivery.with_raw_decode,
        wraps=True,
    ),
    Patch(
        "cheap-ebb",
        fp.ProducerBuffer,
        "wait_until_ebb",
        "the per-record check of faust's producer buffer, which read its size through the "
        "settings registry while the worker leaves that buffer empty",
        "none: performance",
        f"{OFFSETS}::test_an_empty_producer_buffer_is_passed_at_once_and_a_full_one_waits",
        delivery.with_cheap_ebb,
        wraps=True,
    ),
    Patch(
        "idempotent-producer",
        fa.Producer,
        "_settings_extra",
        "the extra producer settings, which make the producer idempotent only in exactly-once "
        "mode: faust offers no setting for enable_idempotence",
        "none found upstream: faust has no producer_enable_idempotence setting",
        f"{OFFSETS}::test_the_worker_producer_is_idempotent_with_acks_all",
        producer.with_idempotence,
        wraps=True,
    ),
)

_installed: dict[str, Any] = {}


def apply() -> list[str]:
    """Install every patch once per process; the names installed. Raises
    ``RuntimeNotPatched`` when faust's compiled stream iterator, which the fixes replace the
    loop of, is missing: without it every offset fix would be off."""
    if fs._CStreamIterator is None:
        raise RuntimeNotPatched(
            "faust's compiled stream iterator (faust.streams._CStreamIterator) is missing, so "
            "the worker's offset fixes cannot be installed: reinstall faust-streaming with its "
            "compiled extensions (pip install --force-reinstall faust-streaming==0.15.3)."
        )
    for patch in PATCHES:
        if patch.name in _installed:
            continue
        current = getattr(patch.owner, patch.attribute)
        new = patch.make(current) if patch.wraps else patch.make()
        setattr(patch.owner, patch.attribute, new)
        _installed[patch.name] = new
    return installed()


def installed() -> list[str]:
    """The patches whose replacement is in place now (read from the classes themselves)."""
    return [
        p.name
        for p in PATCHES
        if p.name in _installed and p.owner.__dict__.get(p.attribute) is _installed[p.name]
    ]


@dataclass(frozen=True)
class Workaround:
    """A fix that replaces nothing but reads or calls a private name."""

    name: str
    where: str
    does: str
    upstream: str
    test: str


WORKAROUNDS: tuple[Workaround, ...] = (
    Workaround(
        "track-topic",
        "streams.runtime.producer.track_topic (aiokafka client._topics, add_topic)",
        "keeps every topic the worker sends to in the producer's metadata, which otherwise "
        "forgets the ones it did not send to first and strands their batches",
        "none found upstream",
        "tests/real/test_producer_metadata_kafka.py::test_tracked_topics_keep_their_metadata",
    ),
    Workaround(
        "no-monitor-sensor",
        "streams.runtime.sensors.without_monitor_sensor (app._monitor, sensors.add)",
        "keeps faust's Monitor, a tenth of the worker's CPU, out of the per-message sensors",
        "none: performance",
        f"{OFFSETS}::test_the_monitor_is_kept_out_of_the_sensors",
    ),
    Workaround(
        "direct-producer",
        "streams.runtime.producer.kafka_producer (faust producer._ensure_producer)",
        "sends to the aiokafka producer under faust's, skipping faust's per-message path",
        "none: performance",
        "tests/unit/test_publish_unit.py::test_internal_items_go_as_one_message_per_partition_and_the_rest_one_by_one",
    ),
    Workaround(
        "row-partitions",
        "streams.runtime.tables.key_partitions (memory store _key_partition)",
        "keeps the memory store's row → partition map up to date and reads it for ticks",
        "none: the memory store offers no public view of it",
        "tests/unit/test_publish_unit.py::test_table_changes_reach_the_store_and_the_changelog_with_their_partitions",
    ),
    Workaround(
        "batch-append",
        "streams.runtime.producer.send_records (aiokafka producer _message_accumulator, "
        "its _batches and their _builder, client._wait_on_metadata)",
        "queues a partition's records straight into the producer's open batch, one future per "
        "batch instead of one per message (AIOKafkaProducer.send: 14 µs a message)",
        "none: performance (aiokafka's batch API, create_batch/send_batch, takes a whole "
        "batch and leaves filling and rolling over to the caller)",
        "tests/real/test_send_records_kafka.py::test_records_arrive_once_in_order_with_keys_values_and_tombstones",
    ),
    Workaround(
        "table-reads",
        "streams.runtime.tables.rows (the memory store's dict, table.data.data)",
        "reads table rows from the memory store's dict, not through faust's Table (a sensor "
        "call, three UserDict layers and a KeyError per missing row)",
        "none: performance",
        f"{OFFSETS}::test_table_reads_go_to_the_memory_store_dict_of_a_real_table",
    ),
    Workaround(
        "changelog-encoding",
        "streams.runtime.tables.json_encoder (faust.utils.json.on_default and its orjson)",
        "encodes a json table's changelog keys and values with the very orjson call faust's "
        "json codec makes, without the schema and codec layers (5 % of the worker's samples)",
        "none: performance",
        f"{OFFSETS}::test_changelog_records_are_encoded_byte_for_byte_as_faust_encodes_them",
    ),
    Workaround(
        "stalled-partitions",
        "streams.runtime.stalls.check (consumer._committed_offset, _acked, _unacked_messages, "
        "_paused_partitions, _buffered_partitions, _get_active_partitions)",
        f"fetches again a stream partition that stood still for {STALL_S:.0f} s with records to "
        "do and nothing in flight, from its first offset not done",
        "none found upstream (seen on the three-broker cluster: a partition assigned and "
        "never fetched after a rebalance during a broker outage)",
        "tests/inprocess/test_stalls_unit.py::"
        "test_a_partition_left_paused_with_records_to_do_is_fetched_again_from_its_commit",
    ),
    Workaround(
        "stalled-recovery",
        "streams.runtime.recovering.check (app.tables.recovery.active_offsets and "
        "active_highwaters, consumer.seek_wait)",
        "seeks again a changelog partition that table recovery has read nothing more of for "
        f"{RECOVERY_STALL_S:.0f} s while it waits for it, from its first offset not read",
        "faust-streaming #74, robinhood/faust #542 (recovery waits forever on a changelog "
        "partition)",
        "tests/inprocess/test_recovering_unit.py::"
        "test_a_changelog_partition_recovery_reads_nothing_of_is_fetched_again",
    ),
)
