"""The small hierarchies the evaluation unit tests share."""
from __future__ import annotations

import pytest

from hgclip.hierarchy import Hierarchy


@pytest.fixture
def toy() -> Hierarchy:
    """coarse: animal, vehicle; fine: cat, dog (animal), car (vehicle). Global order: animal vehicle cat dog car."""
    return Hierarchy(("coarse", "fine"), [("animal", "cat"), ("animal", "dog"), ("vehicle", "car")])


@pytest.fixture
def deep() -> Hierarchy:
    """3 levels; leaves 0,1 are siblings, leaf 2 is a cousin of 0, leaf 3 is in another root."""
    return Hierarchy(
        ("kingdom", "family", "species"),
        [("k1", "f1", "s0"), ("k1", "f1", "s1"), ("k1", "f2", "s2"), ("k2", "f3", "s3")],
    )
