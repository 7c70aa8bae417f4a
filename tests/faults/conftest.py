"""Fixtures for the fault tests: a database of its own on the PostgreSQL server (as the
store tests have), and a tiny tmpfs to fill up."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.store.conftest import postgres_store_url

__all__ = ["postgres_store_url", "tmpfs"]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`tmpfs("512k")` mounts a tmpfs of that size in the test's directory and returns
    it; everything mounted is unmounted after the test. Skips where mounting is not
    permitted (not root, or no CAP_SYS_ADMIN in a container)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in reversed(mounted):
            # Lazy: a process the test failed to end may still hold a file open.
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
