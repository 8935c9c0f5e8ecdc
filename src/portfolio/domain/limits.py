"""What a rate limit leaves a caller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int  # until the window lets one more through
