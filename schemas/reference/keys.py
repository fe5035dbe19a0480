"""Keys that producers, the stream worker and the case store must compute identically: the case
an intake report opens, organisation keys from a credit code or a normalised name, and the
alphabet of unified social credit codes."""

from __future__ import annotations

import re
import unicodedata

from schemas.validators import USCC_CHARS

__all__ = ["USCC_CHARS", "case_id_for", "normalise_name", "org_key"]

_PUNCT = re.compile(r"[\s\u3000()（）\[\]【】,，.。·•\-_/\\'\"“”‘’]+")


def normalise_name(name: str) -> str:
    """Organisation names as typed by clerks vary in width, spaces and brackets."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", name)).lower()


def org_key(name: str | None, credit_code: str | None) -> str | None:
    if credit_code:
        return f"uscc:{credit_code}"
    if name:
        return f"name:{normalise_name(name)}"
    return None


def case_id_for(envelope_id: str, subject: str | None) -> str:
    """The case an intake report opens: its subject (a repeat report names the case it
    repeats) or else its own envelope id."""
    return subject or envelope_id
