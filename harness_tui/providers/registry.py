"""Build a provider by name.

The SDK-backed modules are imported inside `make_provider`, only for the provider
asked for: a scripted or headless run never pays for importing `anthropic` or `openai`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness_tui.providers.base import Provider, ProviderError
from harness_tui.providers.pricing import ModelPrice

PROVIDER_NAMES = ("scripted", "anthropic", "openai")
# Kept here rather than read from the provider modules, which would import the SDKs.
DEFAULT_MODELS = {"anthropic": "claude-sonnet-5-5", "openai": "gpt-5.5", "scripted": "demo"}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    api_key: str | None = None
    # None or "" means the SDK's own choice (ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else
    # the vendor's endpoint).
    base_url: str | None = None
    # Seconds one request may take in all, and between two of its stream events.
    timeout_s: float = 300.0
    idle_timeout_s: float = 120.0
    prompt_caching: bool = True  # anthropic only
    delay_ms: float = 0  # scripted only: pause per reply, for a watchable demo
    slow_step_s: float = 6.0  # scripted only: what {slow_step_s} in a script stands for
    # Configured prices by lower-cased model name, over the built-in table.
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)


def make_provider(
    name: str, *, model: str | None = None, settings: ProviderSettings | None = None
) -> Provider:
    """`model` is the model name; for `scripted` it is the script (a built-in name or a
    path). Raises ProviderError(retryable=False) for an unknown name, a missing key or a
    bad script."""
    settings = settings or ProviderSettings()
    chosen = model or DEFAULT_MODELS.get(name, "")
    if name == "anthropic":
        from harness_tui.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            api_key=settings.api_key,
            base_url=settings.base_url or None,
            model=chosen,
            prompt_caching=settings.prompt_caching,
            timeout_s=settings.timeout_s,
            idle_timeout_s=settings.idle_timeout_s,
            prices=settings.prices,
        )
    if name == "openai":
        from harness_tui.providers.openai import OpenAIProvider

        return OpenAIProvider(
            api_key=settings.api_key,
            base_url=settings.base_url or None,
            model=chosen,
            timeout_s=settings.timeout_s,
            idle_timeout_s=settings.idle_timeout_s,
            prices=settings.prices,
        )
    if name == "scripted":
        from harness_tui.providers.scripted import ScriptedProvider

        return ScriptedProvider(
            chosen, delay_ms=settings.delay_ms, slow_step_s=settings.slow_step_s
        )
    raise ProviderError(
        f"unknown provider {name!r} (expected one of {', '.join(PROVIDER_NAMES)})",
        retryable=False,
    )
