"""Telling every process that something changed, so that what each holds in memory is
checked again."""

from __future__ import annotations

from typing import Protocol


class Announcements(Protocol):
    def current(self) -> int | None:
        """A count that changes whenever something is announced anywhere; None when
        announcements cannot be followed now (then nothing held may be trusted)."""

    async def announce(self) -> None:
        """Tell every process."""
