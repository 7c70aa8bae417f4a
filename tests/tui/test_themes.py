"""Themes: the built-in files, the user's folder, errors that name the file and key,
and reloading while the dashboard runs."""

from __future__ import annotations

import pytest
from textual.color import Color

from harness_tui.paths import packaged_dir, user_themes_dir
from harness_tui.tui.themes import TOKEN_FALLBACKS, ThemeError, load_theme_file, load_themes
from tests.tui.conftest import wait_until

SIZE = (120, 35)

USER_THEME = """\
name = "my-theme"
dark = true

[colors]
primary = "{primary}"
background = "#101010"
"""


def test_builtin_themes_load_and_one_is_light():
    loaded = load_themes([packaged_dir("themes")])
    assert loaded.errors == []
    assert len(loaded.themes) >= 3
    assert any(not theme.dark for theme in loaded.themes.values())
    for theme in loaded.themes.values():
        # Every built-in theme sets every dashboard token itself.
        assert set(theme.variables) == set(TOKEN_FALLBACKS), theme.name


def test_a_bad_colour_names_the_file_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[colors]\nprimary = "#12345"\n')
    with pytest.raises(ThemeError) as error:
        load_theme_file(path)
    assert str(path) in str(error.value) and "colors.primary" in str(error.value)


def test_an_unknown_token_is_refused(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(
        'name = "typo"\n[colors]\nprimary = "red"\n[variables]\nstatus-runing = "red"\n'
    )
    with pytest.raises(ThemeError, match="variables.status-runing"):
        load_theme_file(path)


def test_user_themes_load_beside_the_builtins():
    user_themes_dir().mkdir(parents=True)
    (user_themes_dir() / "mine.toml").write_text(USER_THEME.format(primary="#ff0000"))
    (user_themes_dir() / "bad.toml").write_text("name = ")
    loaded = load_themes()
    assert "my-theme" in loaded.themes and "harness-dark" in loaded.themes
    assert len(loaded.errors) == 1 and "bad.toml" in loaded.errors[0]


async def test_a_user_theme_is_reloaded_while_it_is_used(showcase_config):
    """Editing the theme file in use repaints the dashboard in the new colours."""
    from harness_tui.tui.app import HarnessApp

    user_themes_dir().mkdir(parents=True)
    path = user_themes_dir() / "mine.toml"
    path.write_text(USER_THEME.format(primary="#ff0000"))
    app = HarnessApp(showcase_config(**{"ui.theme": "my-theme"}), watch_theme_files=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        assert app.theme == "my-theme"
        assert _near(app.theme_variables["primary"], "#ff0000")
        # Dashboard tokens the file does not set come from its base colours.
        assert _near(app.theme_variables["status-running"], "#ff0000")
        path.write_text(USER_THEME.format(primary="#00ff00"))
        await wait_until(pilot, lambda: _near(app.theme_variables["primary"], "#00ff00"))


def _near(value: str, expected: str) -> bool:
    """Textual's colour system may round a channel by one."""
    got, want = Color.parse(value), Color.parse(expected)
    return all(abs(a - b) <= 2 for a, b in zip(got.rgb, want.rgb, strict=True))
