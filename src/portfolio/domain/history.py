"""Portfolio history: buckets, and the value of a bucket as the definition gives it.

A bucket starts at a multiple of its interval (counted from the Unix epoch); its point stands at
its end. A point's value is mark-to-market: over every (wallet, token), the amount held at the
bucket's end (the last change recorded at or before it) times the token's price then (its last
price at or before it); a token without a price counts 0, a wallet adds nothing before its
first record. Amounts hold between changes and prices between prices, so there are no gaps
when a wallet was not read.

This module is the definition: the bucket rules (``floor_time`` aligns a window,
``bucket_holding`` places a change or a price) and the walk (``ValueWalk``) that both databases'
history runs, over stored changes and prices or over the points already computed from them."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import NamedTuple

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


def earliest_before(moment: datetime, span: timedelta) -> datetime:
    """``moment - span``, or the earliest time there is (a window near year 1)."""
    try:
        return moment - span
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def bucket_holding(moment: datetime, step: timedelta) -> datetime:
    """The start of the bucket (s, s + step] that a change or price recorded at ``moment``
    counts in: one recorded exactly at a bucket's end stands at that end."""
    return EPOCH + ((moment - TICK - EPOCH) // step) * step


TokenKey = tuple[Chain, str]  # a token by chain and key: what a price is of


@dataclass(frozen=True, slots=True)
class Change:
    """One (wallet, token) amount changed by ``delta`` tokens at ``at``."""

    chain: Chain
    token: str
    at: datetime
    delta: Decimal


@dataclass(frozen=True, slots=True)
class PriceSeen:
    """A token's USD price as seen at ``at``."""

    chain: Chain
    token: str
    at: datetime
    usd: Decimal


Event = Change | PriceSeen


@dataclass(slots=True)
class Holdings:
    """A tenant at a moment: the amount of each token held over all its wallets (a token once
    held stays, at 0) and each token's last price at or before the moment."""

    held: dict[TokenKey, Decimal] = field(default_factory=dict)
    prices: dict[TokenKey, Decimal] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            [
                [chain.value, token, str(amount), _text(self.prices.get((chain, token)))]
                for (chain, token), amount in sorted(self.held.items())
            ]
        )

    @classmethod
    def from_json(cls, text: str) -> Holdings:
        holdings = cls()
        for chain, token, amount, price in json.loads(text):
            key = (Chain(chain), token)
            holdings.held[key] = Decimal(amount)
            if price is not None:
                holdings.prices[key] = Decimal(price)
        return holdings


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class ValueWalk:
    """The definition of a history point, walked: at each bucket's end, over every token, the
    amount held (summed over the tenant's wallets) times the token's last price at or before
    the end; a token without a price counts 0. Fed the state at the window's start and then the
    events after it in time order (events of one moment in any order: a value depends on what
    happened by then, not on the order), it yields each point once a later bucket begins.
    Memory holds one amount and price per token, whatever the number of events."""

    def __init__(self, window: Window, start: Holdings) -> None:
        self._window = window
        self._held = dict(start.held)
        self._prices = dict(start.prices)
        self._totals: dict[Chain, Decimal] = {}
        with localcontext(VALUE_CONTEXT):
            for key, amount in self._held.items():
                chain = key[0]
                self._totals[chain] = self._totals.get(chain, Decimal(0)) + self._value(key, amount)
        self._next = 0  # the index of the next bucket to yield

    def feed(self, event: Event) -> Iterator[HistoryPoint]:
        window = self._window
        if event.at > window.last_end:
            return
        if event.at > window.start:
            yield from self._until(
                (bucket_holding(event.at, window.step) - window.start) // window.step
            )
        key = (event.chain, event.token)
        if isinstance(event, PriceSeen) and key not in self._held:
            self._prices[key] = event.usd  # for when the token comes
            return
        with localcontext(VALUE_CONTEXT):
            amount = self._held.get(key, Decimal(0))
            before = self._value(key, amount)
            if isinstance(event, PriceSeen):
                self._prices[key] = event.usd
            else:
                amount = self._held[key] = amount + event.delta
            change = self._value(key, amount) - before
            self._totals[event.chain] = self._totals.get(event.chain, Decimal(0)) + change

    def finish(self) -> Iterator[HistoryPoint]:
        yield from self._until(self._window.count)

    @property
    def holdings(self) -> Holdings:
        """The state after the events fed so far."""
        return Holdings(dict(self._held), dict(self._prices))

    def _value(self, key: TokenKey, amount: Decimal) -> Decimal:
        price = self._prices.get(key)
        return Decimal(0) if price is None else amount * price

    def _until(self, index: int) -> Iterator[HistoryPoint]:
        """The points of the buckets before ``index``."""
        with localcontext(VALUE_CONTEXT):
            while self._next < index:
                bucket = self._window.start + self._next * self._window.step
                total = sum(self._totals.values(), Decimal(0))
                yield HistoryPoint(bucket, total, dict(self._totals))
                self._next += 1


def history_points(window: Window, start: Holdings, events: Iterable[Event]) -> list[HistoryPoint]:
    """The definition over the state at the window's start and the events after it, in time
    order: one point per bucket of the window."""
    walk = ValueWalk(window, start)
    points = [point for event in events for point in walk.feed(event)]
    return points + list(walk.finish())


class HistoryPoint(NamedTuple):
    """A bucket's value. A named tuple, not a dataclass: a window builds ten thousand of them,
    and a tuple is built in a quarter of the time."""

    timestamp: datetime  # the bucket's start; the values stand at its end
    total: Decimal
    by_chain: dict[Chain, Decimal]


@dataclass(frozen=True, slots=True)
class HeldAt:
    """A (wallet, token) at a moment, by the definition of a history point: its amount as last
    recorded at or before the moment, valued at the token's last price at or before it."""

    wallet_id: Hashable
    chain: Chain
    address: str  # the wallet's
    label: str | None  # the wallet's
    token_key: str  # the contract or mint address, or "native"
    symbol: str | None
    decimals: int
    raw: int
    usd_price: Decimal | None  # the token's price at the moment; None: none known by then
    usd_value: Decimal | None  # exact
    recorded_at: datetime  # when this amount was recorded (it changed then)

    @property
    def amount(self) -> Amount:
        return Amount(self.raw, self.decimals)


def totals_at(held: Sequence[HeldAt]) -> tuple[Decimal, dict[Chain, Decimal]]:
    """The total and each chain's total of ``held``, exact (an unpriced token counts 0): a
    history point's value when the moment is its bucket's end."""
    by_chain: dict[Chain, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for item in held:
            by_chain[item.chain] = by_chain.get(item.chain, Decimal(0)) + (
                item.usd_value or Decimal(0)
            )
        return sum(by_chain.values(), Decimal(0)), by_chain
