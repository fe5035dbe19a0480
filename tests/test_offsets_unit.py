"""The commit rule that replaces faust 0.15's: commit only over what was processed, from the head."""

from __future__ import annotations

from streams.faustfix import new_offset


def test_run_from_the_committed_offset_is_committed() -> None:
    acked = [5, 3, 4, 7]
    assert new_offset(acked, 3) == (6, 3)
    assert acked[:3] == [3, 4, 5]


def test_the_first_unprocessed_message_blocks_the_commit() -> None:
    # faust 0.15 returned 8 here (off by one), committing over offset 3 that no agent finished
    assert new_offset([4, 5, 6, 7], 3) == (None, 0)
    # and with nothing committed yet at 0 it did not look at the head at all
    assert new_offset([1, 2], 0) == (None, 0)


def test_nothing_is_committed_before_the_position_is_known() -> None:
    assert new_offset([0, 1, 2], None) == (None, 0)
    assert new_offset([], 5) == (None, 0)


def test_only_the_first_consecutive_run_counts() -> None:
    acked = [0, 1, 2, 4, 5]
    assert new_offset(acked, 0) == (3, 3)
    # offset 3 is still missing: the next call waits for it
    assert new_offset(acked[3:], 3) == (None, 0)
