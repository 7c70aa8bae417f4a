"""Choosing a provider for a session from config, flags and the environment.

`providers.registry` builds a provider from plain settings; this module decides which
one a session gets and with what settings.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness_tui.providers.base import Provider, ProviderError
from harness_tui.providers.pricing import configured_prices, price_for
from harness_tui.providers.registry import PROVIDER_NAMES, ProviderSettings, make_provider

if TYPE_CHECKING:
    from harness_tui.config import Config

DEMO_SCRIPT = "demo"
_DEMO_PROJECT = Path(__file__).parent / "scripts" / "demo_project"


class ProviderConfigError(Exception):
    """A provider that cannot be used as configured; the message names the key."""


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    name: str
    model: str
    config: Config
    # Shown in the UI and headless output, e.g. why the offline demo was chosen.
    note: str | None = None

    @property
    def is_demo(self) -> bool:
        """The built-in offline demo, as opposed to a script of the user's own."""
        return self.name == "scripted" and self.model == DEMO_SCRIPT

    def build(self) -> Provider:
        cfg = self.config
        settings = ProviderSettings(
            timeout_s=cfg.provider.request_timeout_s,
            idle_timeout_s=cfg.provider.idle_timeout_s,
            prices=configured_prices(cfg),
        )
        if self.name == "anthropic":
            settings = replace(
                settings,
                api_key=os.environ.get("ANTHROPIC_API_KEY"),
                base_url=cfg.anthropic.base_url or None,
                prompt_caching=cfg.anthropic.prompt_caching,
            )
        elif self.name == "openai":
            settings = replace(
                settings,
                api_key=os.environ.get(cfg.openai.api_key_env),
                base_url=cfg.openai.base_url or None,
            )
        else:
            settings = replace(
                settings, delay_ms=cfg.scripted.delay_ms, slow_step_s=cfg.scripted.slow_step_s
            )
        try:
            return make_provider(self.name, model=self.model, settings=settings)
        except ProviderError as exc:
            # What a provider is built from is configuration: a script that is missing
            # or malformed (--model PATH), a key that is not set. The user fixes it.
            raise ProviderConfigError(str(exc)) from None

    def check_cost_budget(self) -> None:
        """A cost budget needs the model's price: without one every reply would count
        as $0 and the budget would never stop the session. Scripted replies cost
        nothing."""
        budget = self.config.engine.max_cost_usd
        if not budget or self.name == "scripted":
            return
        if price_for(self.model, configured_prices(self.config)) is None:
            raise ProviderConfigError(
                f"model {self.model!r} has no known price, so [engine] max_cost_usd = "
                f'{budget:g} cannot be enforced: set [pricing."{self.model}"] input and '
                "output (US dollars per million tokens)"
            )


def seed_demo_project(directory: Path) -> None:
    """Copy the demo's little project (a failing test and its bug) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in _DEMO_PROJECT.iterdir():
        if source.is_file():
            shutil.copy2(source, directory / source.name)


def resolve_provider(
    config: Config,
    name: str | None = None,
    model: str | None = None,
    *,
    offline_demo: bool = False,
) -> ProviderChoice:
    """`name`/`model` come from flags or a stored session; None means config.

    `offline_demo`: with no provider configured, "auto" plays the offline demo (the
    dashboard's no-key default) instead of raising ProviderConfigError."""
    requested = name or config.provider.name
    note = None
    if requested == "auto":
        if os.environ.get("ANTHROPIC_API_KEY"):
            requested = "anthropic"
        elif _openai_configured(config):
            requested = "openai"
        elif offline_demo:
            requested = "scripted"
            note = (
                "no API key set (ANTHROPIC_API_KEY, "
                f"{config.openai.api_key_env}): using the offline demo provider"
            )
        else:
            raise ProviderConfigError(
                "no model provider configured: set ANTHROPIC_API_KEY or "
                f"{config.openai.api_key_env}, or [openai] base_url for a local "
                "OpenAI-compatible server, or choose one with --provider or [provider] "
                "name; --provider scripted runs the offline demo"
            )
    if requested not in PROVIDER_NAMES:
        raise ProviderConfigError(
            f"provider {requested!r}: expected one of {', '.join(PROVIDER_NAMES)}"
        )
    if requested == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise ProviderConfigError("provider anthropic: ANTHROPIC_API_KEY is not set")
    if requested == "openai" and not _openai_configured(config):
        raise ProviderConfigError(
            f"provider openai: {config.openai.api_key_env} is not set "
            "(a local OpenAI-compatible server needs [openai] base_url instead)"
        )
    # [provider] model names a real model; the scripted provider's model is its script.
    configured = config.provider.model if requested != "scripted" else ""
    chosen_model = model or configured or _section_model(config, requested)
    if requested == "scripted" and note is None and chosen_model == DEMO_SCRIPT:
        note = "offline demo provider (scripted)"
    return ProviderChoice(requested, chosen_model, config, note)


def _openai_configured(config: Config) -> bool:
    """A key, or a server of its own (a local one needs no key)."""
    return bool(
        os.environ.get(config.openai.api_key_env)
        or config.openai.base_url
        or os.environ.get("OPENAI_BASE_URL")
    )


def _section_model(config: Config, provider: str) -> str:
    if provider == "anthropic":
        return config.anthropic.model
    if provider == "openai":
        return config.openai.model
    return config.scripted.script
