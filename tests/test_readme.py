"""The README's configuration table documents every environment setting (STYLE: declared once, documented)."""

from __future__ import annotations

import re

from conftest import ROOT

from decidero.config import SETTINGS

TABLE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)


def _documented() -> set[str]:
    return set(TABLE_ROW.findall((ROOT / "README.md").read_text(encoding="utf-8")))


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    missing = [s.name for s in SETTINGS if s.name not in _documented()]
    assert not missing, f"add these to README.md's configuration table: {missing}"


def test_the_readme_table_lists_no_unknown_settings() -> None:
    known = {s.name for s in SETTINGS}
    environment_like = {name for name in _documented() if name.startswith(("DECIDERO_", "LOG_", "GRAB_"))}
    assert environment_like <= known, f"README documents settings the code does not read: {environment_like - known}"
