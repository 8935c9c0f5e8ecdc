"""Portfolio history: buckets, and the value of a bucket as the definition gives it.

A bucket starts at a multiple of its interval (counted from the Unix epoch). Its value is, for
each (wallet, token), the last value recorded at or before the bucket's end, carried forward
across gaps; a wallet adds nothing before its first record.

This module is the definition: the bucket rules (``floor_time`` aligns a window,
``bucket_holding`` places a sample) and the carry-forward (``history_points``). The SQLite
path calls it; the PostgreSQL query (over marks placed by ``bucket_holding``) is tested
against it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
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
# A streamed export (CSV) holds no point: a year of 5-minute points is 105,120.
MAX_STREAMED_POINTS = 1_100_000


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
    def of(
        cls, start: datetime, end: datetime, interval: Interval, max_points: int = MAX_POINTS
    ) -> Window:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidWindowError("start and end need a time zone (RFC 3339).")
        if start >= end:
            raise InvalidWindowError("start must be before end.")
        step = interval.step
        try:
            window = cls(floor_time(start, step), end, step, start)
            if window.count > max_points:  # counted before any bucket is built
                raise InvalidWindowError(
                    f"At most {max_points} points a request; choose a wider interval."
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


class LevelWalk:
    """Each chain's total at the end of each bucket in which one of its samples changed, fed
    samples in recording order (a later one wins a tie), yielding a bucket's levels once a
    later bucket begins: memory holds the last value of each (wallet, token), whatever the
    number of samples. Samples before the window's first bucket are folded into it."""

    def __init__(self, window: Window) -> None:
        self._window = window
        self._current: dict[tuple[Hashable, str], Decimal] = {}
        self._totals: dict[Chain, Decimal] = {}
        self._bucket: datetime | None = None
        self._pending: dict[Chain, Decimal] = {}

    def feed(self, sample: Sample) -> Iterator[Level]:
        if sample.recorded_at > self._window.last_end:
            return
        bucket = max(bucket_holding(sample.recorded_at, self._window.step), self._window.start)
        if bucket != self._bucket:
            yield from self._flush()
            self._bucket = bucket
        with localcontext(VALUE_CONTEXT):
            value = sample.value or Decimal(0)
            key = (sample.wallet, sample.token)
            previous = self._totals.get(sample.chain, Decimal(0))
            total = previous + value - self._current.get(key, Decimal(0))
        self._totals[sample.chain] = total
        self._current[key] = value
        self._pending[sample.chain] = total

    def finish(self) -> Iterator[Level]:
        yield from self._flush()

    def _flush(self) -> Iterator[Level]:
        if self._bucket is not None:
            for chain, value in self._pending.items():
                yield (self._bucket, chain, value)
        self._pending = {}


class CarryForward:
    """Every bucket of the window, each chain's level carried forward from its last change,
    fed levels in bucket order and yielding points as their buckets complete (so a year of
    5-minute points streams without being held)."""

    def __init__(self, window: Window) -> None:
        self._window = window
        self._next = 0  # the index of the next bucket to yield
        self._carried: dict[Chain, Decimal] = {}

    def feed(self, level: Level) -> Iterator[HistoryPoint]:
        bucket, chain, value = level
        yield from self._until((bucket - self._window.start) // self._window.step)
        self._carried[chain] = value

    def finish(self) -> Iterator[HistoryPoint]:
        yield from self._until(self._window.count)

    def _until(self, index: int) -> Iterator[HistoryPoint]:
        """The points of the buckets before ``index``."""
        with localcontext(VALUE_CONTEXT):
            while self._next < index:
                bucket = self._window.start + self._next * self._window.step
                total = sum(self._carried.values(), Decimal(0))
                yield HistoryPoint(bucket, total, dict(self._carried))
                self._next += 1


def chain_levels(window: Window, samples: Iterable[Sample]) -> list[Level]:
    """Each chain's total at the end of each bucket in which one of its samples changed
    (samples in recording order)."""
    walk = LevelWalk(window)
    levels = [level for sample in samples for level in walk.feed(sample)]
    return levels + list(walk.finish())


def carry_forward(window: Window, levels: Iterable[Level]) -> list[HistoryPoint]:
    """Every bucket of the window, each chain's level carried forward from its last change."""
    carry = CarryForward(window)
    ordered = sorted(levels, key=lambda level: level[0])  # stable: a bucket's order is kept
    points = [point for level in ordered for point in carry.feed(level)]
    return points + list(carry.finish())


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
    address: str  # the wallet's
    label: str | None  # the wallet's
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
