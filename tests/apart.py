"""What the experiments on a library installed apart from the project share
(``tests.relay_librdkafka``, ``tests.peer_quixstreams``): the check that it is importable, the
topics they read and write, and their child process, which prints its result as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from fengqiao.settings import Settings


def require(script: str, module: str, package: str) -> None:
    """Exit, saying how to install it, unless ``module`` imports."""
    try:
        __import__(module)
    except ImportError:
        sys.exit(
            f"{script}: {package} is not importable; install it apart from the project "
            f"(pip install --target DIR {package}) and run with PYTHONPATH=DIR"
        )


def make_topics(s: Settings, names: list[str]) -> None:
    """Create ``names`` with the run's partitions and replication; return once they have
    leaders."""
    from kafka.admin import NewTopic

    from fengqiao.admin import admin_client
    from fengqiao.bench import _wait_for_leaders

    admin = admin_client(s)
    admin.create_topics([NewTopic(t, s.topic_partitions, s.topic_replication) for t in names])
    _wait_for_leaders(admin, names)
    admin.close()


def run_child(module: str, events: int, child: list[str]) -> dict[str, Any]:
    """Run ``python -m module --events N --child ...`` in this environment; the JSON object
    on its last line of output. Exits with the end of its stderr if it fails."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--events", str(events), "--child", *child],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if out.returncode != 0:
        sys.exit(f"{module}: the child process failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
