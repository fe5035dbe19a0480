"""Listing consumer groups on a broker whose group coordinator is still loading."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from fengqiao.admin import GroupsNotListed, list_groups


class Admin:
    """kafka-python's ``list_groups`` answering with ``errors`` first, then ``groups``."""

    def __init__(self, errors: list[Exception], groups: list[dict[str, Any]]) -> None:
        self.errors, self.groups, self.calls = list(errors), groups, 0

    def list_groups(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.groups


def test_a_coordinator_still_loading_is_asked_again_until_it_answers() -> None:
    admin = Admin(
        [CoordinatorLoadInProgressError(), CoordinatorNotAvailableError()],
        [{"group_id": "fengqiao-bench-1a2b3c4d", "group_state": "Empty"}, {"group_id": "x"}],
    )
    listed = list_groups(admin, timeout_s=5, pause_s=0)  # type: ignore[arg-type]
    assert listed == {"fengqiao-bench-1a2b3c4d": "Empty", "x": None}
    assert admin.calls == 3


def test_a_coordinator_that_never_answers_is_a_clear_error_not_a_traceback_of_kafka() -> None:
    admin = Admin([CoordinatorLoadInProgressError()] * 1000, [])
    with pytest.raises(GroupsNotListed, match="still not ready after 0 s.*try again"):
        list_groups(admin, timeout_s=0, pause_s=0)  # type: ignore[arg-type]
    assert admin.calls == 1


def test_other_errors_are_not_retried() -> None:
    admin = Admin([PermissionError("denied")], [])
    with pytest.raises(PermissionError):
        list_groups(admin, timeout_s=5, pause_s=0)  # type: ignore[arg-type]
    assert admin.calls == 1
