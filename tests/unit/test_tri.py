"""Kleene logic laws for Tri."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vertebro.core.tri import Tri, all_of, any_of

T, F, U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN
tris = st.sampled_from(list(Tri))


@pytest.mark.parametrize(
    ("a", "b", "conj", "disj"),
    [
        (T, T, T, T),
        (T, F, F, T),
        (T, U, U, T),
        (F, F, F, F),
        (F, U, F, U),
        (U, U, U, U),
    ],
)
def test_truth_tables(a: Tri, b: Tri, conj: Tri, disj: Tri) -> None:
    assert a & b is conj and b & a is conj
    assert a | b is disj and b | a is disj


def test_negation_keeps_unknown() -> None:
    assert ~T is F and ~F is T and ~U is U


def test_empty_conjunction_and_disjunction() -> None:
    assert all_of([]) is T
    assert any_of([]) is F


def test_unknown_has_no_truthiness() -> None:
    with pytest.raises(TypeError):
        bool(U)


@given(st.lists(tris))
def test_de_morgan(values: list[Tri]) -> None:
    assert ~all_of(values) is any_of(~v for v in values)
    assert ~any_of(values) is all_of(~v for v in values)


@given(tris, tris, tris)
def test_associative_and_distributive(a: Tri, b: Tri, c: Tri) -> None:
    assert (a & b) & c is a & (b & c)
    assert a & (b | c) is (a & b) | (a & c)
