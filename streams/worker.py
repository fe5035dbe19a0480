"""faust's worker, with SIGUSR1 logging the producer's queues and every stack (code locations
only) instead of mode's dump, which prints each frame's local variables: events with names
and phone numbers among them; and with aiokafka's connection errors counted, not repeated."""

from __future__ import annotations

import logging
from typing import Any

from faust.worker import Worker as FaustWorker

from streams.diagnose import dump
from streams.runtime.connlog import ConnectionLog, install

log = logging.getLogger("fengqiao.worker")


class Worker(FaustWorker):
    def __init__(self, *args: Any, connection_log: ConnectionLog | None = None, **kw: Any):
        self.connection_log = connection_log
        super().__init__(*args, **kw)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if self.connection_log is not None:
            install(self.connection_log, logger)

    def _on_sigusr1(self) -> None:
        log.warning("SIGUSR1: %s", dump(self.app))
