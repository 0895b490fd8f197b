"""``--where KEY=VALUE``: the filters with which ``specgd plot`` and ``specgd phase-diagram`` pick
stored runs, read in one place."""

from __future__ import annotations

from specgd.errors import ConfigError


def parse_where(where: list[str], example: str) -> dict[str, str]:
    """``--where`` options as a dict (``['lam=4']`` → ``{'lam': '4'}``), or :class:`ConfigError`
    naming the bad one, with ``example`` (``'lam=4'``) as the form to follow."""
    fixed: dict[str, str] = {}
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--where takes KEY=VALUE (e.g. --where {example}), got {item!r}")
        fixed[key.strip()] = value.strip()
    return fixed
