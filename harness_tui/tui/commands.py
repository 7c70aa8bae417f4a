"""The command palette: every dashboard action, every session, every theme."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from harness_tui.tui import keys

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


class DashboardCommands(Provider):
    @property
    def _app(self) -> HarnessApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self._app
        dashboard = app.dashboard
        for binding in [*keys.DASHBOARD, *keys.APP]:
            key = app.keymap.get(binding.id or "", binding.key)
            target = dashboard if binding in keys.DASHBOARD else app
            yield (
                binding.tooltip,
                partial(target.run_action, binding.action),
                f"key: {app.get_key_display(replace(binding, key=key))}",
            )
        for view, _depth, _last in app.model.tree():
            yield (
                f"Show session: {view.title or view.session_id}",
                partial(dashboard.select_when_listed, view.session_id),
                f"{view.display_status} · {view.model_label} · {view.session_id}",
            )
        for approval in app.approvals.pending():
            yield (
                f"Answer approval: {approval.summary}",
                partial(app.approvals.prompt, approval),
                f"{app.session_title(approval.session_id)} · {approval.tool} · risk {approval.risk}",
            )
        for name in sorted(app.available_themes):
            if name.startswith("harness-") or name in app.user_theme_names:
                yield (f"Theme: {name}", partial(setattr, app, "theme", name), "Switch theme")

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
