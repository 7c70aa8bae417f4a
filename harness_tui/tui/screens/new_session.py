"""Start a session: the prompt, provider and model or an external agent, approval mode,
sandbox, worktree or not, here or queued for a worker (`harness-tui worker`) sharing
the store."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Switch

from harness_tui.providers.registry import PROVIDER_NAMES
from harness_tui.sandbox import MODES as SANDBOX_MODES
from harness_tui.tui import keys
from harness_tui.tui.screens.mode import APPROVAL_MODES
from harness_tui.tui.widgets.footer import KeyFooter


@dataclass(frozen=True, slots=True)
class NewSessionRequest:
    prompt: str
    provider: str | None
    model: str | None
    approval_mode: str
    # None: the project's [git] worktree setting.
    worktree: bool | None
    # None: the config's [sandbox] mode.
    sandbox_mode: str | None = None
    # Queued in the store for a worker to run, rather than run by this dashboard.
    queue: bool = False
    # The external agent ([agents.NAME]) it runs on; None: our own loop.
    agent: str | None = None


# The Agent choice for our own loop (the provider and model above, our tools and gate).
OUR_LOOP = "our loop"


class NewSessionScreen(ModalScreen[NewSessionRequest | None]):
    BINDINGS = [*keys.NEW_SESSION]
    DEFAULT_CSS = """
    #queue-column {
        max-width: 24;
    }
    """

    def __init__(
        self,
        *,
        provider: str,
        model_hint: str,
        approval_mode: str,
        worktree: bool,
        sandbox_mode: str,
        agents: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.agents = agents
        self.provider = provider
        self.model_hint = model_hint
        self.approval_mode = approval_mode
        self.worktree = worktree
        self.sandbox_mode = sandbox_mode

    def compose(self) -> ComposeResult:
        providers = ["auto", *[p for p in PROVIDER_NAMES if p != "auto"]]
        with Vertical(id="new-session-dialog", classes="dialog") as dialog:
            dialog.border_title = "New session"
            yield Label("Prompt")
            yield Input(placeholder="What should the agent do?", id="prompt")
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("Provider")
                    yield Select(
                        [(name, name) for name in providers],
                        value=self.provider if self.provider in providers else "auto",
                        allow_blank=False,
                        id="provider",
                    )
                with Vertical():
                    yield Label("Model")
                    yield Input(placeholder=self.model_hint or "default", id="model")
                with Vertical(id="worktree-column"):
                    yield Label("Own git worktree")
                    yield Switch(value=self.worktree, id="worktree")
                with Vertical(id="queue-column"):
                    yield Label("Queue for a worker")
                    yield Switch(value=False, id="queue")
            # What the agent may do, side by side.
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("Agent")
                    yield Select(
                        [(OUR_LOOP, ""), *[(name, name) for name in self.agents]],
                        value="",
                        allow_blank=False,
                        id="agent",
                    )
                with Vertical():
                    yield Label("Approval mode")
                    yield Select(
                        [(f"{mode} · {what}", mode) for mode, what in APPROVAL_MODES],
                        value=self.approval_mode,
                        allow_blank=False,
                        id="approval-mode",
                    )
                with Vertical():
                    yield Label("Sandbox")
                    yield Select(
                        [(mode, mode) for mode in SANDBOX_MODES],
                        value=self.sandbox_mode,
                        allow_blank=False,
                        id="sandbox-mode",
                    )
            yield Label("", id="new-session-error")
            with Horizontal(id="new-session-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        prompt = self.query_one("#prompt", Input).value.strip()
        if not prompt:
            self.query_one("#new-session-error", Label).update("Type a prompt first.")
            self.query_one("#prompt", Input).focus()
            return
        provider = str(self.query_one("#provider", Select).value)
        model = self.query_one("#model", Input).value.strip()
        agent = str(self.query_one("#agent", Select).value) or None
        queue = self.query_one("#queue", Switch).value
        if agent is not None and queue:
            self.query_one("#new-session-error", Label).update(
                f"{agent} runs here: workers take sessions on our own loop only."
            )
            return
        self.dismiss(
            NewSessionRequest(
                prompt=prompt,
                provider=None if provider == "auto" else provider,
                model=model or None,
                approval_mode=str(self.query_one("#approval-mode", Select).value),
                worktree=self.query_one("#worktree", Switch).value,
                sandbox_mode=str(self.query_one("#sandbox-mode", Select).value),
                queue=queue,
                agent=agent,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_close(self) -> None:
        self.dismiss(None)
