"""Text that others write: a token's symbol and name as a chain, a token list, a token's own
metadata or a chains file gives them. One bound for all of it, applied where it enters, so
that every column it is stored in holds it (symbol and name columns are at least this wide)."""

from __future__ import annotations

TEXT_MAX = 64  # characters kept of a symbol or a name


def printable(value: str) -> str:
    """``value`` without control and format characters, and lone surrogates (no valid UTF-8)."""
    return "".join(c for c in value if c.isprintable())


def outside_text(value: object, limit: int = TEXT_MAX) -> str | None:
    """``value`` as the service keeps it: a string of printable characters only (control and
    format characters, and lone surrogates, which are no valid UTF-8, are dropped), trimmed,
    at most ``limit`` characters; None when nothing is left or it is not a string."""
    if not isinstance(value, str):
        return None
    kept = printable(value).strip()
    return kept[:limit].rstrip() or None
