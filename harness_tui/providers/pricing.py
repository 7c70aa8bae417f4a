"""List prices of a handful of current models, in USD per million tokens, and the
prices the user configured (`[pricing."MODEL"]`) for any other model.

Costs shown in the dashboard and checked against `max_cost_usd` come from here. A
model neither in the table nor configured has no known price: its cost is None (shown
as unknown), never a guess. Left out on purpose: models billed by prompt length (Claude
Haiku 5.5) or with cache rates off the usual ratio. Prices change; this is the one
place to update them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness_tui.config import Config


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input: float
    output: float
    cache_read: float
    cache_write: float


def _claude(input_price: float, output_price: float) -> ModelPrice:
    # Anthropic bills cache reads at 10% and 5-minute cache writes at 125% of input.
    return ModelPrice(
        input_price, output_price, round(input_price * 0.1, 6), round(input_price * 1.25, 6)
    )


def _gpt(input_price: float, output_price: float, cached: float) -> ModelPrice:
    # OpenAI caches automatically: no write surcharge, cached input is discounted.
    return ModelPrice(input_price, output_price, cached, input_price)


PRICES: dict[str, ModelPrice] = {
    "claude-opus-5-5": _claude(4.0, 20.0),
    "claude-opus-5": _claude(5.0, 25.0),
    "claude-opus-4-8": _claude(5.0, 25.0),
    "claude-opus-4-7": _claude(5.0, 25.0),
    "claude-opus-4-6": _claude(5.0, 25.0),
    "claude-opus-4-5": _claude(5.0, 25.0),
    "claude-opus-4-1": _claude(15.0, 75.0),
    "claude-sonnet-5-5": _claude(2.0, 10.0),
    "claude-sonnet-5": _claude(2.0, 10.0),
    "claude-sonnet-4-6": _claude(3.0, 15.0),
    "claude-sonnet-4-5": _claude(3.0, 15.0),
    "claude-haiku-4-5": _claude(1.0, 5.0),
    "gpt-5.5": _gpt(5.0, 30.0, 0.5),
    "gpt-5.4": _gpt(2.5, 15.0, 0.25),
    "gpt-5.4-mini": _gpt(0.75, 4.5, 0.075),
    "gpt-5": _gpt(1.25, 10.0, 0.125),
    "gpt-5-mini": _gpt(0.25, 2.0, 0.025),
    "gpt-5-nano": _gpt(0.05, 0.4, 0.005),
    "gpt-4.1": _gpt(2.0, 8.0, 0.5),
    "gpt-4.1-mini": _gpt(0.4, 1.6, 0.1),
    "gpt-4.1-nano": _gpt(0.1, 0.4, 0.025),
    "gpt-4o": _gpt(2.5, 10.0, 1.25),
    "gpt-4o-mini": _gpt(0.15, 0.6, 0.075),
}

# A dated snapshot or alias of a listed model costs the same: "claude-sonnet-4-5-20250929",
# "gpt-4o-2024-08-06". Anything else after the name
# ("gpt-4o-audio-preview") is a different model with its own price, so it is unknown.
_SNAPSHOT_SUFFIX = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|-latest)?")


def configured_prices(config: Config) -> dict[str, ModelPrice]:
    """`[pricing."MODEL"]` entries by lower-cased model name. Cached input is charged
    at the input price: a budget may stop early, but never late."""
    return {
        name.strip().lower(): ModelPrice(p.input, p.output, p.input, p.input)
        for name, p in config.pricing.items()
    }


def price_for(model: str, configured: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The configured price for `model` if there is one, else the table's."""
    name = model.strip().lower()
    if configured and name in configured:
        return configured[name]
    if name in PRICES:
        return PRICES[name]
    # Longest name first, so "gpt-4o-mini-…" is not priced as "gpt-4o".
    for known in sorted(PRICES, key=len, reverse=True):
        if name.startswith(known) and _SNAPSHOT_SUFFIX.fullmatch(name[len(known) :]):
            return PRICES[known]
    return None


def cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    prices: Mapping[str, ModelPrice] | None = None,
    requested: str | None = None,
) -> float | None:
    """Cost of one request; `input_tokens` excludes the cached tokens counted apart.
    `model` is the model the server says answered; `requested`, the name asked for,
    prices the reply when the server answers under a name of its own (an alias it
    resolved, a local server's full tag)."""
    price = price_for(model, prices)
    if price is None and requested:
        price = price_for(requested, prices)
    if price is None:
        return None
    return (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_read_tokens * price.cache_read
        + cache_write_tokens * price.cache_write
    ) / 1_000_000
