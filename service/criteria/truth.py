"""Three-valued (Kleene) logic, and nothing else."""

from __future__ import annotations

from enum import Enum


class Truth(Enum):
    MET = "met"
    NOT_MET = "not-met"
    UNKNOWN = "unknown"


def and_(left: Truth, right: Truth) -> Truth:
    if Truth.NOT_MET in (left, right):
        return Truth.NOT_MET
    if Truth.UNKNOWN in (left, right):
        return Truth.UNKNOWN
    return Truth.MET


def or_(left: Truth, right: Truth) -> Truth:
    if Truth.MET in (left, right):
        return Truth.MET
    if Truth.UNKNOWN in (left, right):
        return Truth.UNKNOWN
    return Truth.NOT_MET


def not_(value: Truth) -> Truth:
    if value is Truth.UNKNOWN:
        return Truth.UNKNOWN
    return Truth.NOT_MET if value is Truth.MET else Truth.MET
