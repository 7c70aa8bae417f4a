"""Prices: the built-in table, and what the user configures for any other model."""

from __future__ import annotations

from harness_tui.config import load_config
from harness_tui.providers.pricing import PRICES, configured_prices, cost_usd, price_for


def test_a_configured_price_prices_an_unknown_model_and_overrides_the_table(tmp_path):
    (tmp_path / ".harness").mkdir()
    (tmp_path / ".harness" / "config.toml").write_text(
        '[pricing."My-Local-Model"]\ninput = 2.0\noutput = 4.0\n\n'
        '[pricing."gpt-5"]\ninput = 1.0\noutput = 1.0\n'
    )
    prices = configured_prices(load_config(project=tmp_path, env={}))
    assert price_for("my-local-model") is None
    local = price_for("my-local-model", prices)
    assert local is not None and (local.input, local.output) == (2.0, 4.0)
    # Cached input at the input price: a budget may stop early, never late.
    assert (local.cache_read, local.cache_write) == (2.0, 2.0)
    assert price_for("gpt-5", prices) != PRICES["gpt-5"]
    assert cost_usd("my-local-model", input_tokens=500_000, output_tokens=0, prices=prices) == 1.0


def test_a_reply_under_a_server_chosen_name_is_priced_as_requested():
    cost = cost_usd(
        "served-as-something-else", input_tokens=1_000_000, output_tokens=0, requested="gpt-5"
    )
    assert cost == PRICES["gpt-5"].input
    assert cost_usd("served-as-something-else", input_tokens=1, output_tokens=1) is None
