"""Turn a decoded body into parsed events for one key: 403 for another source, 422 per field."""

from __future__ import annotations

from producers.gateway.problems import Refusal
from producers.keystore import ApiKey
from producers.sdk import validate
from schemas.errors import ContractError, FieldProblem
from schemas.parse import ParsedEvent


def check_event(kind: str, obj: object, key: ApiKey, prefix: str = "") -> ParsedEvent:
    """The parsed event, or a Refusal: 403 when it names another source, else 422."""
    source = obj.get("source") if isinstance(obj, dict) else None
    if isinstance(source, str) and source != key.source:
        where = _join(prefix, "source")
        raise Refusal(403, "Forbidden", f"{where}: this key may only publish {key.source}")
    try:
        return validate(obj, kind)
    except ContractError as err:
        raise Refusal.invalid(
            "Invalid event", [FieldProblem(_join(prefix, p.path), p.problem) for p in err.problems]
        ) from None


def batch_items(obj: object, max_batch: int) -> list[object]:
    """The list of items of a batch body: a JSON array, or an object holding one as ``events``."""
    if isinstance(obj, dict) and isinstance(obj.get("events"), list):
        obj = obj["events"]
    if not isinstance(obj, list) or not obj:
        raise Refusal(
            422,
            "Invalid batch",
            "the body must be a non-empty JSON array of events",
            [FieldProblem("", "body must be a non-empty JSON array")],
        )
    if len(obj) > max_batch:
        raise Refusal(
            413,
            "Batch too large",
            f"at most {max_batch} events per batch",
            [FieldProblem("", f"more than {max_batch} events")],
        )
    return obj


def check_batch(kind: str, items: list[object], key: ApiKey) -> list[ParsedEvent]:
    """Every item parsed, or one Refusal: the first 403, else a 422 listing all the problems."""
    parsed: list[ParsedEvent] = []
    problems: list[FieldProblem] = []
    for i, item in enumerate(items):
        try:
            parsed.append(check_event(kind, item, key, prefix=f"[{i}]"))
        except Refusal as refusal:
            if refusal.status != 422:
                raise
            problems += refusal.problems
    if problems:
        raise Refusal(
            422, "Invalid events", f"{len(problems)} problem(s); nothing was written", problems
        )
    return parsed


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"
