"""Kleene's three-valued logic, the whole truth tables: unknown decides only when the other side cannot."""

from __future__ import annotations

import pytest

from service.criteria.truth import Truth, and_, not_, or_

M, N, U = Truth.MET, Truth.NOT_MET, Truth.UNKNOWN

AND = {(M, M): M, (M, N): N, (M, U): U, (N, M): N, (N, N): N, (N, U): N, (U, M): U, (U, N): N, (U, U): U}
OR = {(M, M): M, (M, N): M, (M, U): M, (N, M): M, (N, N): N, (N, U): U, (U, M): M, (U, N): U, (U, U): U}


@pytest.mark.parametrize(("pair", "expected"), AND.items())
def test_and(pair: tuple[Truth, Truth], expected: Truth) -> None:
    assert and_(*pair) is expected


@pytest.mark.parametrize(("pair", "expected"), OR.items())
def test_or(pair: tuple[Truth, Truth], expected: Truth) -> None:
    assert or_(*pair) is expected


@pytest.mark.parametrize(("value", "expected"), [(M, N), (N, M), (U, U)])
def test_not(value: Truth, expected: Truth) -> None:
    assert not_(value) is expected


@pytest.mark.parametrize("pair", AND)
def test_de_morgan_holds_in_three_values(pair: tuple[Truth, Truth]) -> None:
    a, b = pair
    assert not_(and_(a, b)) is or_(not_(a), not_(b))
