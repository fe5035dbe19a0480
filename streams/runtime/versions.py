"""The versions of faust-streaming, mode-streaming and aiokafka the runtime's patches were
written and tested for; the worker refuses any other unless told to run untested."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

TESTED: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
}

OVERRIDE = "FENGQIAO_WORKER_ALLOW_UNTESTED_RUNTIME"


class UntestedRuntime(RuntimeError):
    """An installed faust, mode or aiokafka is not the version the patches were tested on."""


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


Lookup = Callable[[str], str | None]


def mismatches(lookup: Lookup | None = None) -> dict[str, str | None]:
    """Each library whose installed version differs from the tested one, with that version
    (``None``: not installed); ``lookup`` gives a library's version (default: ``installed``)."""
    find = lookup or installed
    found = {name: find(name) for name in TESTED}
    return {name: v for name, v in found.items() if v != TESTED[name]}


def check(allow_untested: bool, lookup: Lookup | None = None) -> list[str]:
    """Raise ``UntestedRuntime`` unless every library is at its tested version or
    ``allow_untested`` is set; returns the warnings to log when it is."""
    wrong = mismatches(lookup)
    if not wrong:
        return []
    found = ", ".join(f"{n} {v or 'missing'} (tested: {TESTED[n]})" for n, v in wrong.items())
    if allow_untested:
        return [f"running on untested library versions: {found}; the offset fixes may not hold"]
    raise UntestedRuntime(
        f"The worker refuses to start because its offset fixes patch library internals and were "
        f"tested only on other versions: {found}; install the pinned versions "
        f"(pip install -e .) or set {OVERRIDE}=true to run untested."
    )
