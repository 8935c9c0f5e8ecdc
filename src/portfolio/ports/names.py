"""The name port: ENS names resolved to addresses, and addresses' primary names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class NameService(Protocol):
    async def resolve(self, name: str) -> str | None:
        """The address a normalised name resolves to; None when it resolves to none (no
        resolver, no address, or a resolver that reverts or answers nonsense).

        Raises ChainUnavailableError when no node answers."""

    async def primary_names(self, addresses: Sequence[str]) -> dict[str, str | None]:
        """Each address's primary name: its reverse record's name, kept only when that name
        resolves back to the address; None otherwise.

        Raises ChainUnavailableError when no node answers."""
