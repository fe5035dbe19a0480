"""kafka-python's warning for a long step of its network loop, kept for steps that are stalls.

kafka-python 3 runs each client's network I/O as tasks on a loop of its own (``kafka.net.
selector.NetworkSelector``, on a background thread) and warns when one step of a task takes
longer than ``slow_task_threshold_secs``, 0.1 s by default: "Task … ran for 0.178s (>0.100s
threshold). It is blocking the event loop -- likely a tight sync loop inside a coroutine. Other
pollers will time out." The threshold is wall time. The project's readers ask for full fetches
(up to 4 MiB a fetch for the replay and the report, ``consumers.fetching``), and its publishers
and readers do their own Python work in the main thread beside that loop. On a 2-core machine,
parsing one full fetch, or a step waiting for the interpreter lock, takes 0.1–0.25 s. So
`fengqiao simulate`, `replay` and `bench` printed the warning every few seconds, and told an
operator of a fault there was not.

kafka-python's clients take no setting for it (a consumer refuses a key it does not know), so
``install`` raises the loop's default to ``SLOW_STEP_S``: a step of a second is still a stall
worth a warning. It changes nothing on a kafka-python without that loop (before 3.0).
"""

from __future__ import annotations

SLOW_STEP_S = 1.0
_KEY = "slow_task_threshold_secs"


def install(seconds: float = SLOW_STEP_S) -> float | None:
    """Warn only for steps of the clients' network loop longer than ``seconds`` (never lowers
    a higher threshold). Returns the threshold now in force, or None without such a loop."""
    try:
        from kafka.net.selector import NetworkSelector
    except ImportError:  # kafka-python before 3.0
        return None
    defaults = getattr(NetworkSelector, "DEFAULT_CONFIG", None)
    if not isinstance(defaults, dict) or _KEY not in defaults:
        return None
    current = defaults[_KEY]
    # 0 turns the check off: leave it off
    if current and current < seconds:
        defaults[_KEY] = seconds
    return float(defaults[_KEY])
