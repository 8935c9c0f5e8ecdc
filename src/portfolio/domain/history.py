"""Portfolio history: buckets, and the value of a bucket as the definition gives it.

A bucket starts at a multiple of its interval (counted from the Unix epoch). Its value is, for
each (wallet, token), the last value recorded at or before the bucket's end, carried forward
across gaps; a wallet adds nothing before its first record.

This module is the definition: the bucket rules (``floor_time`` aligns a window,
``bucket_holding`` places a sample) and the carry-forward (``history_points``). The SQLite
path calls it; the PostgreSQL query (over marks placed by ``bucket_holding``) is tested
against it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ValidationError
from portfolio.domain.prices import VALUE_CONTEXT

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)  # the resolution of a recorded time
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
    """The start of the bucket [s, s + step) that holds ``moment``: where a window begins."""
    return EPOCH + ((moment - EPOCH) // step) * step


def bucket_holding(moment: datetime, step: timedelta) -> datetime:
    """The start of the bucket (s, s + step] that a sample recorded at ``moment`` counts in:
    a value recorded exactly at a bucket's end stands at that end."""
    return EPOCH + ((moment - TICK - EPOCH) // step) * step


@dataclass(frozen=True, slots=True)
class Sample:
    """A recorded value of one (wallet, token)."""

    wallet: Hashable
    token: str
    chain: Chain
    recorded_at: datetime
    value: Decimal | None  # None: no price then; counts as 0


Level = tuple[datetime, Chain, Decimal]  # a chain's total at a bucket's end


def chain_levels(window: Window, samples: Iterable[Sample]) -> list[Level]:
    """Each chain's total at the end of each bucket in which one of its samples changed.
    ``samples`` come in recording order (a later one wins a tie); those before the window's
    first bucket are folded into it."""
    current: dict[tuple[Hashable, str], Decimal] = {}
    totals: dict[Chain, Decimal] = {}
    levels: dict[tuple[datetime, Chain], Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for sample in samples:
            if sample.recorded_at > window.last_end:
                continue
            bucket = max(bucket_holding(sample.recorded_at, window.step), window.start)
            value = sample.value or Decimal(0)
            key = (sample.wallet, sample.token)
            chain = sample.chain
            totals[chain] = totals.get(chain, Decimal(0)) + value - current.get(key, Decimal(0))
            current[key] = value
            levels[(bucket, chain)] = totals[chain]
    return [(bucket, chain, value) for (bucket, chain), value in levels.items()]


def carry_forward(window: Window, levels: Iterable[Level]) -> list[HistoryPoint]:
    """Every bucket of the window, each chain's level carried forward from its last change."""
    by_bucket: dict[datetime, dict[Chain, Decimal]] = {}
    for bucket, chain, value in levels:
        by_bucket.setdefault(bucket, {})[chain] = value
    points = []
    carried: dict[Chain, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for bucket in window.buckets():
            carried.update(by_bucket.get(bucket, {}))
            points.append(HistoryPoint(bucket, sum(carried.values(), Decimal(0)), dict(carried)))
    return points


def history_points(window: Window, samples: Iterable[Sample]) -> list[HistoryPoint]:
    """The definition over samples in recording order: one point per bucket of the window."""
    return carry_forward(window, chain_levels(window, samples))


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    timestamp: datetime  # the bucket's start; the values stand at its end
    total: Decimal
    by_chain: dict[Chain, Decimal]


@dataclass(frozen=True, slots=True)
class HeldAt:
    """A (wallet, token) as recorded at or before a moment: its last sample then, by the same
    definition as a history point's (the later insert wins a tie)."""

    wallet_id: Hashable
    chain: Chain
    token_key: str  # the contract or mint address, or "native"
    symbol: str | None
    decimals: int
    raw: int
    usd_price: Decimal | None
    usd_value: Decimal | None
    recorded_at: datetime  # when the sample this stands on was recorded

    @property
    def amount(self) -> Amount:
        return Amount(self.raw, self.decimals)


def totals_at(held: Sequence[HeldAt]) -> tuple[Decimal, dict[Chain, Decimal]]:
    """The total and each chain's total of ``held``, exact (a value-less sample counts 0): a
    history point's value when the moment is its bucket's end."""
    by_chain: dict[Chain, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for item in held:
            by_chain[item.chain] = by_chain.get(item.chain, Decimal(0)) + (
                item.usd_value or Decimal(0)
            )
        return sum(by_chain.values(), Decimal(0)), by_chain
