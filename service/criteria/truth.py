"""Three-valued (Kleene) logic, and nothing else."""

from __future__ import annotations

from enum import Enum


class Truth(Enum):
    MET = "met"
    NOT_MET = "not-met"
    UNKNOWN = "unknown"


# The members as module names: reading an Enum member off its class runs Python code, and the walk tests these
# hundreds of times per patient.
MET, NOT_MET, UNKNOWN = Truth.MET, Truth.NOT_MET, Truth.UNKNOWN


def and_(left: Truth, right: Truth) -> Truth:
    if left is NOT_MET or right is NOT_MET:
        return NOT_MET
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    return MET


def or_(left: Truth, right: Truth) -> Truth:
    if left is MET or right is MET:
        return MET
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    return NOT_MET


def not_(value: Truth) -> Truth:
    if value is UNKNOWN:
        return UNKNOWN
    return NOT_MET if value is MET else MET
