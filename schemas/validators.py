"""Check-character validation for Chinese identifiers and phone numbers, and the guard that
keeps them out of code fields.

Messages never echo the value: they end up in dead-letter reasons and logs.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# GB 32100-2015 unified social credit code (统一社会信用代码).
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11643-1999 citizen identification number (居民身份证号码).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_SERVICE = re.compile(r"^(1\d{4}|[48]00\d{7})$")  # 12348, 400/800 numbers


def credit_code_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def check_credit_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 18:
        raise ValueError("unified social credit code must be 18 characters")
    if any(c not in USCC_CHARS for c in code):
        raise ValueError("unified social credit code has a character outside GB 32100-2015's set")
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValueError("unified social credit code check character is wrong")
    return code


def id_number_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _ascii(value: str) -> str:
    # full-width digits and letters, as a Chinese input method types them, are the same number
    return unicodedata.normalize("NFKC", value)


def check_id_number(value: str) -> str:
    num = _ascii(value).strip().upper()
    if len(num) != 18 or not num[:17].isdigit() or not (num[17].isdigit() or num[17] == "X"):
        raise ValueError("resident id number must be 17 digits and a digit or X")
    try:
        date(int(num[6:10]), int(num[10:12]), int(num[12:14]))
    except ValueError:
        raise ValueError("resident id number has an impossible birth date") from None
    if id_number_check_char(num[:17]) != num[17]:
        raise ValueError("resident id number check digit is wrong")
    return num


def check_phone(value: str) -> str:
    phone = re.sub(r"[\s()]", "", _ascii(value))
    if re.fullmatch(r"(\+86)?1\d{2}-\d{4}-\d{4}", phone):
        phone = phone.replace("-", "")  # a mobile written 138-0013-8000
    if phone.startswith("+86"):
        phone = phone[3:]
    if not (_MOBILE.match(phone) or _LANDLINE.match(phone) or _SERVICE.match(phone)):
        raise ValueError("phone must be an 11-digit mobile or a landline with area code")
    return phone


# Shapes only, no check digits: a code field (street, community, project code) that looks
# like personal data is refused whether or not the number is genuine, because codes become
# keys, labels and reasons that people other than the owning committee read.
_CODE_CHAR = "0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy"
_PERSONAL_SHAPES = re.compile(
    r"^(?:(?P<id>\d{17}[\dXx]|\d{15})"
    r"|(?P<phone>(?:\+?86)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|[2-9]\d{6,7})"
    rf"|(?P<uscc>[{_CODE_CHAR}]{{2}}\d{{6}}[{_CODE_CHAR}]{{10}}))$"
)


def refuse_personal_code(value: str) -> str:
    """``value`` unchanged, unless it is shaped like an id number, a phone number or a
    unified social credit code; the error says which, never the value."""
    m = _PERSONAL_SHAPES.match(value)
    if m is None:
        return value
    if m.group("id"):
        what = "a resident id number"
    elif m.group("phone"):
        what = "a phone number"
    else:
        what = "a unified social credit code"
    raise ValueError(
        f"looks like {what}; a code field must never carry personal data (give the catalogue code)"
    )
