"""Tables the tests leave for the end-of-run summary (printed by conftest)."""

from __future__ import annotations

SECTIONS: dict[str, list[str]] = {}


def add(section: str, *lines: str) -> None:
    SECTIONS.setdefault(section, []).extend(lines)
