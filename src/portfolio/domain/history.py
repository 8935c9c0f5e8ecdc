"""Portfolio history: buckets, and the value of a bucket as the definition gives it.

A bucket starts at a multiple of its interval (counted from the Unix epoch). Its value is, for
each (wallet, token), the last value recorded at or before the bucket's end, carried forward
across gaps; a wallet adds nothing before its first record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from portfolio.domain.chains import Chain
from portfolio.domain.errors import ValidationError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_POINTS = 10_000


class Interval(StrEnum):
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def step(self) -> timedelta:
        return {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}[
            self.value
        ]


class InvalidWindowError(ValidationError):
    field = "start"


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # the first bucket's start (aligned)
    end: datetime  # as asked
    step: timedelta
    asked_start: datetime | None = None  # as asked, before alignment

    @classmethod
    def of(cls, start: datetime, end: datetime, interval: Interval) -> Window:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidWindowError("start and end need a time zone (RFC 3339).")
        if start >= end:
            raise InvalidWindowError("start must be before end.")
        step = interval.step
        try:
            window = cls(floor_time(start, step), end, step, start)
            if window.count > MAX_POINTS:  # counted before any bucket is built
                raise InvalidWindowError(
                    f"At most {MAX_POINTS} points a request; choose a wider interval."
                )
            window.last_end  # noqa: B018 - computing it is the check
        except OverflowError as exc:
            raise InvalidWindowError(
                "The window reaches past the representable dates (years 1 to 9999)."
            ) from exc
        return window

    @property
    def count(self) -> int:
        return -(-(self.end - self.start) // self.step)  # ceiling division

    def buckets(self) -> list[datetime]:
        return [self.start + i * self.step for i in range(self.count)]

    @property
    def last_end(self) -> datetime:
        """The end of the last bucket."""
        return self.start + self.count * self.step


def floor_time(moment: datetime, step: timedelta) -> datetime:
    return EPOCH + ((moment - EPOCH) // step) * step


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    timestamp: datetime  # the bucket's start; the values stand at its end
    total: Decimal
    by_chain: dict[Chain, Decimal]
