"""Text from chains and lists, bounded where it enters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portfolio.domain.text import TEXT_MAX, outside_text


@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", errors="surrogateescape")))
def test_kept_text_is_short_printable_trimmed_and_valid_utf8(value: str) -> None:
    kept = outside_text(value)
    if kept is None:
        return
    assert 0 < len(kept) <= TEXT_MAX
    assert kept == kept.strip()
    assert kept.isprintable()
    kept.encode("utf-8")  # no lone surrogate left
    assert kept in "".join(c for c in value if c.isprintable())


def test_examples() -> None:
    assert outside_text("  USDC\n") == "USDC"
    assert outside_text("\x07" + "A" * 100 + "\u202e") == "A" * TEXT_MAX
    assert outside_text("\ud83d") is None
    assert outside_text("\x00\x01") is None
    assert outside_text(42) is None
    assert outside_text("Ether 🙂") == "Ether 🙂"
