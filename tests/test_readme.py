"""The README documents every environment setting as declared (STYLE: declared once, documented)."""

from __future__ import annotations

import re

from conftest import ROOT

from decidero.platform.config import SETTINGS

TABLE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|([^|]*)\|", re.MULTILINE)
NO_DEFAULT = ("none", "empty")


def _documented() -> dict[str, tuple[str, str]]:
    """Variable → (default, meaning) as the README's configuration table shows them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {name: (default.replace("`", "").strip(), meaning.strip()) for name, default, meaning in TABLE_ROW.findall(text)}


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    missing = [s.name for s in SETTINGS if s.name not in _documented()]
    assert not missing, f"add these to README.md's configuration table: {missing}"


def test_the_readme_table_lists_no_unknown_settings() -> None:
    known = {s.name for s in SETTINGS}
    environment_like = {name for name in _documented() if name.startswith(("DECIDERO_", "LOG_", "GRAB_"))}
    assert environment_like <= known, f"README documents settings the code does not read: {environment_like - known}"


def test_the_readme_shows_each_settings_declared_default_and_a_meaning() -> None:
    documented = _documented()
    for setting in SETTINGS:
        default, meaning = documented[setting.name]
        if setting.default:
            assert default == setting.default, setting.name
        else:
            assert default in NO_DEFAULT, setting.name
        assert meaning, setting.name


def test_the_quick_start_is_exactly_the_two_commands_and_the_justfile_has_them() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.DOTALL)
    assert block is not None
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["just run", "just test"]
    recipes = set(re.findall(r"^([a-z][\w-]*)\b[^\n=:]*:(?!=)", (ROOT / "Justfile").read_text(), re.MULTILINE))
    assert {"run", "test"} <= recipes
    assert "pip install rust-just" in quick_start
