"""Hypothesis strategies that several test modules draw from: one home for "any JSON value",
sized by each caller (the fuzz tests want larger values than the schema agreement tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(
    *, max_int: int, text_size: int, children: int, key_size: int, max_leaves: int
) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, integers from -2**63 to `max_int`, finite floats,
    text, and lists and objects of them nested up to `max_leaves` leaves."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), max_int)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text_size),
        lambda inner: (
            st.lists(inner, max_size=children)
            | st.dictionaries(st.text(max_size=key_size), inner, max_size=children)
        ),
        max_leaves=max_leaves,
    )
