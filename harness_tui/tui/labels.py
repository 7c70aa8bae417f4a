"""What the header says about the project, the store and the provider, from the config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from harness_tui.providers.select import ProviderConfigError, resolve_provider
from harness_tui.sandbox import DANGER_FULL_ACCESS

if TYPE_CHECKING:
    from harness_tui.config import Config


@dataclass(frozen=True, slots=True)
class ProviderLabel:
    # "name/model", or "not configured".
    label: str
    # Why no provider can be used; the app shows it as an error notification.
    error: str | None = None
    # The provider choice's own note (why the offline demo was picked, ...).
    note: str | None = None
    # The gist of the note or the error, for the header.
    header_note: str | None = None


def provider_label(config: Config) -> ProviderLabel:
    try:
        choice = resolve_provider(config, offline_demo=True)
    except ProviderConfigError as exc:
        return ProviderLabel("not configured", error=str(exc), header_note="see the notification")
    header_note = None
    if choice.name == "scripted":
        # The full note goes to a notification; the header keeps the gist.
        no_key = bool(choice.note and "no API key" in choice.note)
        header_note = "offline demo, no API key set" if no_key else "offline demo"
    return ProviderLabel(f"{choice.name}/{choice.model}", note=choice.note, header_note=header_note)


def project_label(config: Config) -> str:
    return config.project.name or str(config.project)


def store_label(config: Config) -> str:
    """The store, short: relative to the project or home, and never with a password."""
    url = config.store_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        try:
            return str(path.relative_to(config.project))
        except ValueError:
            home = Path.home()
            return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
    parts = urlsplit(url)
    if parts.password:  # never paint a password
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True, slots=True)
class SandboxLabel:
    """What the header says about where a session's commands run."""

    long: str
    short: str
    # The commands run unconfined: said loudly, like a pending approval.
    loud: bool


def sandbox_label(
    mode: str, *, network: bool = False, unconfined: str | None = None
) -> SandboxLabel:
    """`unconfined`: why the commands run outside the sandbox although the mode has one
    (it cannot start here, and the policy alone judges them)."""
    if mode == DANGER_FULL_ACCESS:
        return SandboxLabel("⚠ NO SANDBOX: danger-full-access", "⚠ NO SANDBOX", loud=True)
    if unconfined:
        return SandboxLabel("⚠ no sandbox here: policy only", "⚠ no sandbox", loud=True)
    suffix = " +network" if network else ""
    return SandboxLabel(f"sandbox {mode}{suffix}", f"{mode}{suffix}", loud=False)


def agent_label(agent: str, *, never_asks: bool) -> SandboxLabel:
    """What the header says of a session on an external agent: it runs its own tools
    (our sandbox is not around them) and asks our policy first, unless its mode never
    asks, which is said loudly."""
    if never_asks:
        return SandboxLabel(f"⚠ {agent}: runs tools without asking", "⚠ never asks", loud=True)
    return SandboxLabel(f"agent {agent} · asks our policy", f"agent {agent}", loud=False)
