"""Invitation codes: 60 random bits written as 12 Crockford base-32 characters (``ABCD-EFGH-JKMN``).

Crockford's alphabet has no I, L, O or U, so codes read aloud or copied by hand survive; input is
accepted in any case, with spaces and dashes, and with O/I/L typed for 0/1/1.
"""
from __future__ import annotations

import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def generate_code() -> str:
    """A new normalised code: 12 characters from a CSPRNG (60 bits of entropy)."""
    value = secrets.randbits(5 * CODE_LENGTH)
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """The canonical form of what a person typed: upper case, no spaces or dashes, O/I/L mapped."""
    cleaned = "".join(ch for ch in text.upper() if not ch.isspace() and ch not in "-_")
    return cleaned.translate(_CONFUSABLE)


def format_code(code: str) -> str:
    """A stored code grouped for reading: ``ABCD-EFGH-JKMN``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def is_well_formed(code: str) -> bool:
    """Whether a normalised code could be one of ours (right length, right alphabet)."""
    return 4 <= len(code) <= 32 and all(ch in ALPHABET for ch in code)


def codes_match(a: str, b: str) -> bool:
    """Compare two normalised codes in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
