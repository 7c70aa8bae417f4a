"""Which migrations a store still needs: by version, each on its own, so a version
missing from the list (a gap) or applied out of order is harmless."""

from __future__ import annotations

import pytest

from harness_tui.store import StoreError
from harness_tui.store._common import migrations_to_apply

MIGRATIONS = [(1, "one"), (2, "two"), (3, "three")]


def test_a_new_store_gets_every_migration_in_order() -> None:
    assert migrations_to_apply(MIGRATIONS, set(), "db") == MIGRATIONS


def test_a_gap_in_the_versions_is_harmless() -> None:
    # A build without version 2 brings a store to 1 and 3 ...
    assert migrations_to_apply([(1, "one"), (3, "three")], {1}, "db") == [(3, "three")]
    # ... and a later build that has 2 fills the gap without repeating the others.
    assert migrations_to_apply(MIGRATIONS, {1, 3}, "db") == [(2, "two")]


def test_a_store_newer_than_the_build_is_refused_by_name() -> None:
    with pytest.raises(StoreError, match=r"db has schema version 3.*upgrade"):
        migrations_to_apply(MIGRATIONS[:2], {1, 2, 3}, "db")
