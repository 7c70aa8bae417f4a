"""Glob patterns matched one path component at a time, as a walk goes down a tree.

A pattern is split on '/': `**` spans zero or more components, other wildcards (`*`,
`?`, `[abc]`) stay within one. The matcher keeps the set of pattern positions the path
so far can have reached and advances all of them with each component, so matching costs
at most the pattern's length per component, however many `**` it holds. (Trying each
way to share the components out among the `**`s, as a recursive matcher does, is
exponential in their number.) An empty set means nothing below can match, which lets
the walk prune the directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

States = frozenset[int]


class GlobMatcher:
    __slots__ = ("parts", "start")

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts
        self.start = self._closure((0,))

    def _closure(self, positions: Iterable[int]) -> States:
        # A `**` may match no component at all: the position after it is reached too.
        reached = set()
        for i in positions:
            while i < len(self.parts) and self.parts[i] == "**":
                reached.add(i)
                i += 1
            reached.add(i)
        return frozenset(reached)

    def step(self, states: States, name: str) -> States:
        """The states after one more path component `name`."""
        after = []
        for i in states:
            if i == len(self.parts):
                continue  # the pattern is used up: a longer path does not match
            part = self.parts[i]
            if part == "**":
                after.append(i)  # `**` takes this component and may take more
            elif fnmatchcase(name, part):
                after.append(i + 1)
        return self._closure(after)

    def advance(self, states: States, names: Iterable[str]) -> States:
        for name in names:
            states = self.step(states, name)
        return states

    def matches(self, states: States) -> bool:
        """Whether the path that led to `states` matches the whole pattern."""
        return len(self.parts) in states

    def may_match_below(self, states: States) -> bool:
        """Whether a longer path could still match (else the walk can stop here)."""
        return any(i < len(self.parts) for i in states)
