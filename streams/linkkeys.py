"""Linking keys: salted hashes of the identities a report names, so that reports of one matter
sent through different channels find each other without any personal value leaving intake.

A key names what it was made of (``applicant_phone``, ``employer+contact_phone``) and carries an
HMAC-SHA256 of the kind, the matter and the normalised value under the deployment's salt. Values
are normalised first, so one person written two ways (full-width digits, spaces or dashes in a
phone number, a lower-case x in an id number) gives one key. Strong keys name a person (an
applicant's id number or phone, a wage claim's contact); weak keys name only a matter (the same
respondent on the same street) and are offered as "possibly related", never linked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from schemas.events import DisputeReported, Petitioner, PetitionFiled, WageArrearsReported
from schemas.reference.keys import normalise_name

# 128 bits of the digest: collisions are out of reach at any district's volume, and the key
# stays short in table rows and changelogs.
DIGEST_HEX = 32

_NOT_DIGIT = re.compile(r"\D")


def _nfkc(value: str) -> str:
    # full-width digits and letters (typed with a Chinese input method) become ASCII
    return unicodedata.normalize("NFKC", value)


def normalise_phone(value: str) -> str:
    """Digits only, without the country code: ``+86 138-0013-8000`` → ``13800138000``."""
    digits = _NOT_DIGIT.sub("", _nfkc(value))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def normalise_id_number(value: str) -> str:
    """Without spaces, the check character upper-case."""
    return re.sub(r"\s", "", _nfkc(value)).upper()


def normalise_credit_code(value: str) -> str:
    return re.sub(r"\s", "", _nfkc(value)).upper()


def org_identities(name: str | None, credit_code: str | None) -> list[tuple[str, str]]:
    """An organisation's identities, (label, normalised value): its credit code and its name
    both, so a report naming it only by name still meets one that gave the code too."""
    out: list[tuple[str, str]] = []
    if credit_code:
        out.append(("uscc", normalise_credit_code(credit_code)))
    if name and normalise_name(name):
        out.append(("name", normalise_name(name)))
    return out


@dataclass(frozen=True, slots=True)
class LinkKeys:
    """The keys of one report: ``strong`` may link it to a case, ``weak`` only relates it.
    Each maps the key (``name:digest``) to nothing personal; the names are what ``matched``
    reports."""

    strong: tuple[str, ...] = field(default_factory=tuple)
    weak: tuple[str, ...] = field(default_factory=tuple)


def key_name(key: str) -> str:
    """The name part of a key (``applicant_phone`` of ``applicant_phone:3fa…``)."""
    return key.split(":", 1)[0]


class KeyMaker:
    """Computes a report's keys under one salt (kept out of ``repr``: it must never be logged)."""

    __slots__ = ("_salt",)

    def __init__(self, salt: bytes) -> None:
        if not salt:
            raise ValueError("link_salt must not be empty")
        self._salt = salt

    def __repr__(self) -> str:
        return "KeyMaker(salt=<hidden>)"

    def key(self, name: str, kind: str, matter: str, value: str) -> str:
        msg = "\x1f".join((name, kind, matter, value)).encode()
        digest = hmac.new(self._salt, msg, hashlib.sha256).hexdigest()[:DIGEST_HEX]
        return f"{name}:{digest}"

    def keys_for(self, kind: str, payload: BaseModel) -> LinkKeys:
        """The keys of a validated intake payload of ``kind`` (dispute, petition, wage_arrears)."""
        if isinstance(payload, DisputeReported):
            return self._dispute(payload)
        if isinstance(payload, WageArrearsReported):
            return self._wage(payload)
        if isinstance(payload, PetitionFiled):
            return self._petition(payload)
        return LinkKeys()

    def _dispute(self, p: DisputeReported) -> LinkKeys:
        # the matter of a dispute is its category: one applicant's family quarrel and their
        # contract claim are two cases
        kind, matter = "dispute", p.category
        strong: list[str] = []
        weak: list[str] = []
        for party in p.parties:
            if party.role == "applicant":
                if party.id_number:
                    value = normalise_id_number(party.id_number)
                    strong.append(self.key("applicant_id", kind, matter, value))
                if party.phone:
                    value = normalise_phone(party.phone)
                    strong.append(self.key("applicant_phone", kind, matter, value))
            elif party.kind == "organisation":
                for label, value in org_identities(party.name, party.credit_code):
                    # same respondent on the same street: likely the same trouble, but another
                    # applicant's, so only "possibly related"
                    weak.append(
                        self.key(f"respondent_{label}+street", kind, matter, f"{p.street}|{value}")
                    )
        return LinkKeys(_unique(strong), _unique(weak))

    def _wage(self, p: WageArrearsReported) -> LinkKeys:
        # the matter of a wage claim is the employer; a claim is the contact's (the worker or
        # the team leader who speaks for the workers)
        kind = "wage_arrears"
        employers = org_identities(p.employer.name, p.employer.credit_code)
        phone = normalise_phone(p.contact.phone) if p.contact and p.contact.phone else ""
        project = _project(p)
        strong: list[str] = []
        weak: list[str] = []
        for label, employer in employers:
            if phone:
                strong.append(self.key(f"employer_{label}+contact_phone", kind, employer, phone))
            if project:
                weak.append(self.key(f"employer_{label}+project", kind, employer, project))
            weak.append(self.key(f"employer_{label}+street", kind, employer, p.street))
        return LinkKeys(_unique(strong), _unique(weak))

    def _petition(self, p: PetitionFiled) -> LinkKeys:
        # the matter of a petition: its street, category and target agency
        kind = "petition"
        matter = f"{p.street}|{p.category}|{normalise_name(p.target_agency)}"
        strong: list[str] = []
        who = petitioner_of(p)
        if who is not None:
            if who.id_number:
                value = normalise_id_number(who.id_number)
                strong.append(self.key("petitioner_id", kind, matter, value))
            if who.phone:
                value = normalise_phone(who.phone)
                strong.append(self.key("petitioner_phone", kind, matter, value))
        weak = [self.key("matter", kind, matter, "")]
        return LinkKeys(_unique(strong), _unique(weak))


def _project(p: WageArrearsReported) -> str:
    if p.project is None:
        return ""
    if p.project.code:
        return f"code|{normalise_credit_code(p.project.code)}"
    if p.project.name:
        return f"name|{normalise_name(p.project.name)}"
    return ""


def petitioner_of(p: PetitionFiled) -> Petitioner | None:
    """The petitioner an integration sent with a petition (an optional field the contract keeps
    as an unknown one), or None when absent or malformed: linking then has no identity."""
    raw: Any = (p.model_extra or {}).get("petitioner")
    if not isinstance(raw, dict):
        return None
    try:
        return Petitioner.model_validate(raw)
    except ValueError:
        return None


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))
