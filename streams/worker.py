"""faust's worker, with SIGUSR1 logging the producer's queues and every stack (code locations
only) instead of mode's dump, which prints each frame's local variables: events with names
and phone numbers among them."""

from __future__ import annotations

import logging

from faust.worker import Worker as FaustWorker

from streams.diagnose import dump

log = logging.getLogger("fengqiao.worker")


class Worker(FaustWorker):
    def _on_sigusr1(self) -> None:
        log.warning("SIGUSR1: %s", dump(self.app))
