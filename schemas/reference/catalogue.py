"""The committee catalogue: which mediation committees exist, where, and at which tier.

Loaded from a data file (the Longwan sample ships as package data; another district supplies
its own) and validated at load, with errors that name the offending entry. Pure code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import FengqiaoError
from schemas.events import CommitteeType, Tier

CODE_PATTERN = r"^[a-z0-9_-]+$"

TIER_OF_TYPE: dict[str, Tier] = {
    "community": "community",
    "street": "street",
    "petition_desk": "street",
    "district_center": "district",
    "medical": "district",
    "traffic": "district",
    "labor": "district",
    "family": "district",
    "petition_bureau": "district",
    "city": "city",
}
COMMITTEE_TYPES: tuple[str, ...] = get_args(CommitteeType)
STREET_TYPES = ("street", "petition_desk")
TOP_TYPES = tuple(t for t in COMMITTEE_TYPES if TIER_OF_TYPE[t] in ("district", "city"))

# How a mediator reads a committee type in a sentence.
TYPE_LABEL = {
    "community": "community mediation committee",
    "street": "street mediation committee",
    "petition_desk": "street petition-mediation desk (访调对接)",
    "district_center": "district conflict-resolution center (矛调中心)",
    "medical": "district medical dispute committee",
    "traffic": "district traffic dispute committee",
    "labor": "district labour dispute committee",
    "family": "district family dispute committee",
    "petition_bureau": "district petition bureau (信访局)",
    "city": "city conflict-resolution center",
}


class RoutingConfigError(FengqiaoError):
    """A catalogue or ruleset file is unreadable or inconsistent; the message names the entry."""


# --- file format ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommitteeEntry(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    type: CommitteeType
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None


class CommunityCommitteeEntry(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None


class CommunityEntry(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    committee: CommunityCommitteeEntry


class StreetEntry(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    committees: list[CommitteeEntry]
    communities: list[CommunityEntry] = Field(default_factory=list)


class DistrictEntry(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None


class CatalogueFile(_Strict):
    format: Literal["fengqiao.catalogue/1"]
    version: str = Field(min_length=1, max_length=100)
    district: DistrictEntry
    note: str | None = None
    committees: list[CommitteeEntry]
    streets: list[StreetEntry] = Field(min_length=1)


# --- the loaded catalogue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Committee:
    id: str
    type: str
    tier: str
    name: str
    street: str | None = None
    community: str | None = None

    @property
    def label(self) -> str:
        return TYPE_LABEL[self.type]


@dataclass(frozen=True, slots=True)
class Street:
    code: str
    name: str
    by_type: dict[str, Committee]
    communities: dict[str, Committee]  # community code -> its committee
    community_names: dict[str, str]


@dataclass(frozen=True)
class Catalogue:
    version: str
    district_code: str
    district_name: str
    content_hash: str
    committees: dict[str, Committee]
    streets: dict[str, Street]
    top_by_type: dict[str, tuple[Committee, ...]]  # district and city committees by type

    def street(self, code: str) -> Street | None:
        return self.streets.get(code)


def _entry_name(data: Any, loc: tuple[int | str, ...]) -> str:
    """'street #3 (haibin) > committee #2 (haibin-desk)' for a pydantic error location."""
    parts: list[str] = []
    node = data
    i = 0
    while i < len(loc):
        key = loc[i]
        node = node.get(key) if isinstance(node, dict) else None
        if i + 1 < len(loc) and isinstance(loc[i + 1], int) and isinstance(node, list):
            idx = int(loc[i + 1])
            item = node[idx] if idx < len(node) else None
            ident = item.get("id") or item.get("code") if isinstance(item, dict) else None
            singular = {"streets": "street", "committees": "committee"}.get(
                str(key), str(key).rstrip("s")
            )
            parts.append(f"{singular} #{idx + 1}" + (f" ({ident})" if ident else ""))
            node = item
            i += 2
        else:
            parts.append(str(key))
            i += 1
    return " > ".join(parts) or "file"


def pydantic_problems(err: ValidationError, data: Any) -> list[str]:
    out = []
    for e in err.errors(include_url=False, include_context=False):
        loc = tuple(e["loc"])
        msg = e["msg"]
        if e["type"] == "literal_error" and loc and loc[-1] == "type":
            got = e.get("input")
            msg = f"unknown committee type {got!r}; expected one of {', '.join(COMMITTEE_TYPES)}"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        out.append(f"{_entry_name(data, loc)}: {msg}")
    return out


def read_json(
    path: Path | None, default: str, what: str, package: str = "schemas.reference.data"
) -> tuple[Any, str]:
    """(parsed JSON, description of where it came from) for a file or the packaged default."""
    if path is None:
        text = resources.files(package).joinpath(default).read_text(encoding="utf-8")
        where = f"default {what} ({default})"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise RoutingConfigError(f"cannot read {what} {path}: {err.strerror}") from err
        where = f"{what} {path}"
    try:
        return json.loads(text), where
    except json.JSONDecodeError as err:
        raise RoutingConfigError(
            f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from err


def content_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_catalogue(data: Any, where: str = "catalogue") -> Catalogue:
    """Validate a parsed catalogue file; every problem found is listed, each naming its entry."""
    try:
        f = CatalogueFile.model_validate(data)
    except ValidationError as err:
        found = pydantic_problems(err, data)
        raise RoutingConfigError(f"{where} is invalid:\n  " + "\n  ".join(found)) from err

    problems: list[str] = []
    committees: dict[str, Committee] = {}

    def add(c: Committee, entry: str) -> None:
        if c.id in committees:
            problems.append(f"{entry}: duplicate committee id {c.id!r}")
        else:
            committees[c.id] = c

    top_by_type: dict[str, list[Committee]] = {}
    for i, ce in enumerate(f.committees, 1):
        entry = f"committee #{i} ({ce.id})"
        if ce.type not in TOP_TYPES:
            problems.append(
                f"{entry}: type {ce.type!r} belongs under a street, not at district level"
            )
            continue
        c = Committee(ce.id, ce.type, TIER_OF_TYPE[ce.type], ce.name)
        add(c, entry)
        top_by_type.setdefault(ce.type, []).append(c)

    streets: dict[str, Street] = {}
    community_codes: dict[str, str] = {}
    for si, se in enumerate(f.streets, 1):
        sentry = f"street #{si} ({se.code})"
        if se.code in streets:
            problems.append(f"{sentry}: duplicate street code {se.code!r}")
            continue
        by_type: dict[str, Committee] = {}
        for ci, ce in enumerate(se.committees, 1):
            entry = f"{sentry} > committee #{ci} ({ce.id})"
            if ce.type not in STREET_TYPES:
                problems.append(
                    f"{entry}: type {ce.type!r} cannot sit under a street "
                    f"(street committees are {', '.join(STREET_TYPES)})"
                )
                continue
            if ce.type in by_type:
                problems.append(f"{entry}: the street already has a {ce.type!r} committee")
                continue
            c = Committee(ce.id, ce.type, TIER_OF_TYPE[ce.type], ce.name, street=se.code)
            add(c, entry)
            by_type[ce.type] = c
        if "street" not in by_type:
            problems.append(f"{sentry}: has no committee of type 'street'")
        communities: dict[str, Committee] = {}
        names: dict[str, str] = {}
        for mi, me in enumerate(se.communities, 1):
            entry = f"{sentry} > community #{mi} ({me.code})"
            if me.code in community_codes:
                problems.append(
                    f"{entry}: duplicate community code {me.code!r} "
                    f"(already under street {community_codes[me.code]!r})"
                )
                continue
            community_codes[me.code] = se.code
            c = Committee(
                me.committee.id,
                "community",
                "community",
                me.committee.name,
                street=se.code,
                community=me.code,
            )
            add(c, entry)
            communities[me.code] = c
            names[me.code] = me.name
        streets[se.code] = Street(se.code, se.name, by_type, communities, names)

    if problems:
        raise RoutingConfigError(f"{where} is invalid:\n  " + "\n  ".join(problems))
    return Catalogue(
        version=f.version,
        district_code=f.district.code,
        district_name=f.district.name,
        content_hash=content_hash(data),
        committees=committees,
        streets=streets,
        top_by_type={t: tuple(cs) for t, cs in top_by_type.items()},
    )


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue file at ``path``, or the packaged Longwan sample."""
    data, where = read_json(path, "catalogue.json", "catalogue")
    return build_catalogue(data, where)
