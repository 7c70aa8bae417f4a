"""The merged config as `harness-tui config show` prints it: every setting with the
layer it came from."""

from __future__ import annotations

from harness_tui.config.fields import dotted, plain, walk
from harness_tui.config.schema import Config
from harness_tui.config.toml_text import toml_repr


def format_config(config: Config, as_json: bool = False) -> str:
    """Every setting with the layer it came from, as commented TOML-like lines grouped by
    section, or as JSON: {"project", "store_url", "values": {key: {"value", "source"}}}."""
    rows = [
        (dotted(path), value, config.sources.get(dotted(path), "default"))
        for path, value in walk(Config, config)
    ]
    if as_json:
        import json

        document = {
            "project": str(config.project),
            "store_url": config.store_url,
            "values": {
                key: {"value": plain(value), "source": source} for key, value, source in rows
            },
        }
        return json.dumps(document, indent=2, ensure_ascii=False)
    lines: list[str] = []
    section = None
    for key, value, source in rows:
        if section is not None and key.split(".")[0] != section:
            lines.append("")
        section = key.split(".")[0]
        lines.append(f"{key} = {toml_repr(value)}  # {source}")
    lines += ["", f"project = {toml_repr(str(config.project))}"]
    return "\n".join(lines)
