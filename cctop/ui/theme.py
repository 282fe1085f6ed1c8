"""Cell roles -> Rich styles taken from the active Textual theme (never hard-coded colours)."""

from __future__ import annotations

from collections.abc import Mapping

_ROLE_VARIABLE = {
    "live": "text-success",
    "warn": "text-warning",
    "error": "text-error",
    "accent": "text-accent",
    "primary": "text-primary",
}


def role_styles(variables: Mapping[str, str]) -> dict[str, str]:
    styles = {"": "", "muted": "dim"}
    for role, name in _ROLE_VARIABLE.items():
        value = variables.get(name, "")
        # Theme values may carry alpha or "auto" forms Rich cannot parse; keep plain colours only.
        styles[role] = value if value.startswith("#") and len(value) in (4, 7) else ""
    return styles
