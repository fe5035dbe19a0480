"""The monitoring sink, the simulator and the simulated mediators respect the layers: only
``fengqiao/`` (the composition root) may import every package; ``consumers/`` and
``producers/`` import ``schemas/`` and their own package, never each other or ``fengqiao``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "consumers": ("producers", "streams", "fengqiao"),
    "producers": ("consumers", "streams", "fengqiao"),
}
FILES = [
    *sorted((ROOT / "consumers" / "metrics").glob("*.py")),
    ROOT / "consumers" / "dashboard.py",
    ROOT / "consumers" / "labels.py",
    *sorted((ROOT / "producers" / "simulator").glob("*.py")),
    ROOT / "producers" / "manifest.py",
    ROOT / "producers" / "groundtruth.py",
    ROOT / "producers" / "mediators.py",
]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_stay_in_their_layer(path: Path) -> None:
    layer = path.relative_to(ROOT).parts[0]
    bad = sorted(n for n in imported(path) if n.split(".")[0] in FORBIDDEN[layer])
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
