"""Small sampling helpers shared by the generators."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` positive integers, at random."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def yuan(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))
