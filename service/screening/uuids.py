"""Random (version 4) UUIDs as text, for the cards and their suggestions."""

from __future__ import annotations

import os


def uuid4_text() -> str:
    """`str(uuid.uuid4())`, the same 122 random bits from the same source, at half its cost: the hook makes two
    per card, and `uuid.UUID` checks and sets its fields in Python."""
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]  # the RFC 4122 variant: the top two bits of this digit are 10
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"
