"""Portfolio history in SQL, from balance changes and price series, on both databases alike.

A point is walked by the definition (domain.history.ValueWalk) from the tenant's holdings at a
moment and the changes and prices after it. Walking a year of changes on every request would
cost what the changes cost, so each tenant's value at every 5-minute boundary is computed once
and kept in ``history_spans`` (288 points of a step a row), up to its cursor (``history_cursors``:
the boundary reached and the holdings and prices there). The cursor stays ``SEAL_GRACE`` behind
the present, so a change or price that is still being written is not missed (a write older
than the cursor drops it: ledger.forget_history_after). A request reads the kept points of its
window and walks only the minutes after the cursor. A window whose points are not all kept
(retention dropped the 5-minute ones of long ago) is walked from the changes and prices
instead: the same values.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from itertools import accumulate, islice, repeat
from operator import add
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    Executable,
    delete,
    func,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from portfolio.adapters.db.engine import insert_for
from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import (
    BalanceChangeRow,
    HistoryCursorRow,
    HistorySpanRow,
    PricePointRow,
    WalletRow,
)
from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    EPOCH,
    MAX_POINTS,
    Change,
    Event,
    HeldAt,
    HistoryPoint,
    Holdings,
    Interval,
    PriceSeen,
    TokenKey,
    ValueWalk,
    Window,
    bucket_holding,
    floor_time,
    history_points,
)
from portfolio.domain.prices import VALUE_CONTEXT
from portfolio.ports.clock import Clock

FIVE_MINUTES = Interval.FIVE_MINUTES.step
SEAL_GRACE = timedelta(minutes=15)  # how far behind the present points are kept
SEAL_CHUNK = 288  # boundaries computed in one transaction (a day)
SPAN_POINTS = 288  # the points of one step a row holds: a day of 5-minute ones
STEPS = tuple(int(interval.step.total_seconds()) for interval in Interval)
STREAM_BUCKETS = 500  # buckets read in one page of a streamed export (its events held at once)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long prices and points of each step are kept; daily ones are kept forever."""

    five_minutes: timedelta = timedelta(days=35)
    hours: timedelta = timedelta(days=400)

    def limits(self, now: datetime) -> dict[int, datetime]:
        """The oldest time kept, by step in seconds, of the steps not kept forever."""
        return {300: now - self.five_minutes, 3600: now - self.hours}


def _span(seconds: int) -> timedelta:
    """How long a row of points of a step spans."""
    return SPAN_POINTS * timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class _Cursor:
    first_at: datetime | None  # the first kept point; None: none yet
    sealed_at: datetime
    holdings: Holdings


class SqlHistoryRepository:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialect: str,
        clock: Clock,
        *,
        write_sessions: async_sessionmaker[AsyncSession] | None = None,
        retention: Retention | None = None,
    ) -> None:
        """``sessions`` read (a replica, maybe); ``write_sessions`` keep points (the primary)."""
        self._sessions = sessions
        self._writes = write_sessions or sessions
        self._dialect = dialect
        self._clock = clock
        self._retention = retention or Retention()

    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        """A window of up to MAX_POINTS buckets read in one page, on one connection (each
        checkout pings the database first: a round trip saved is a millisecond)."""
        async with storage_errors(), self._sessions() as session:
            pages = self._pages(tenant, window, MAX_POINTS, session)
            return [point async for page in pages for point in page]

    async def stream_history(self, tenant: str, window: Window) -> AsyncIterator[HistoryPoint]:
        """Points as they are read, in pages of buckets, each page in a short transaction of
        its own: a client that reads a long export slowly holds no connection between pages."""
        async for page in self._pages(tenant, window, STREAM_BUCKETS):
            for point in page:
                yield point

    async def _pages(
        self, tenant: str, window: Window, page: int, shared: AsyncSession | None = None
    ) -> AsyncIterator[list[HistoryPoint]]:
        """The points in pages (lists: ten thousand points passed one by one through
        generators would cost more than reading them): from the kept points up to the cursor
        where they are all kept, else (retention dropped some) walked from the changes; then
        walked after the cursor. Read with ``shared`` if given, else a session a page."""
        replica = self._sessions is not self._writes
        cursor = await self._sealed(tenant, None if replica else shared)
        if cursor is None or replica:  # read where reads go
            async with self._reading(shared) as session:
                cursor = await _cursor(session, tenant)
        if cursor is None:  # dropped meanwhile by a late write
            async for points in self._walked(tenant, window, shared):
                yield points
            return
        done = 0
        async for points in self._kept(tenant, window, page, cursor, shared):
            done += len(points)
            yield points
        # The first bucket ending after the cursor (and after those walked already, when
        # retention had the kept points walked to the end).
        step, sealed = window.step, cursor.sealed_at
        first = window.start + max(done, (sealed - window.start) // step) * step
        if first < window.last_end:
            yield await self._tail(tenant, window, cursor, first, shared)

    @asynccontextmanager
    async def _reading(self, shared: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """``shared``, or a read session of its own."""
        if shared is not None:
            yield shared
            return
        async with storage_errors(), self._sessions() as session:
            yield session

    async def _kept(
        self, tenant: str, window: Window, page: int, cursor: _Cursor, shared: AsyncSession | None
    ) -> AsyncIterator[list[HistoryPoint]]:
        """The buckets that end by the cursor, page by page, from the kept points; walked from
        the first page on which some are not kept (retention dropped them) to the window's
        end."""
        step = window.step
        for part in _parts(window, page):
            if part.start + step > cursor.sealed_at:
                return
            async with self._reading(shared) as session:
                points = await _kept_points(session, tenant, part, cursor)
            if points is None:
                rest = Window(part.start, window.end, step)
                async for walked in self._walked(tenant, rest, shared):
                    yield walked
                return
            yield points

    async def _tail(
        self,
        tenant: str,
        window: Window,
        cursor: _Cursor,
        first: datetime,
        shared: AsyncSession | None,
    ) -> list[HistoryPoint]:
        """The buckets from ``first`` on (their ends after the cursor), walked from the
        holdings at the cursor with the events after it: the cursor lies in the first of them,
        whose value at its end is what happened by the cursor and after."""
        tail = Window(first, window.end, window.step)
        async with self._reading(shared) as session:
            events = await _events(
                session, tenant, cursor.sealed_at, tail.last_end, tail.step, cursor.holdings
            )
        return history_points(tail, cursor.holdings, events)

    async def _walked(
        self, tenant: str, window: Window, shared: AsyncSession | None = None
    ) -> AsyncIterator[list[HistoryPoint]]:
        """The window walked from the changes and prices, page by page."""
        async with self._reading(shared) as session:
            holdings = await _holdings_at(session, tenant, window.start, self._dialect)
        for part in _parts(window, STREAM_BUCKETS):
            async with self._reading(shared) as session:
                events = await _events(
                    session, tenant, part.start, part.last_end, part.step, holdings
                )
            walk = ValueWalk(part, holdings)
            yield [point for event in events for point in walk.feed(event)] + list(walk.finish())
            holdings = walk.holdings

    async def seal(self, tenant: str) -> None:
        """Compute and keep the tenant's points up to ``SEAL_GRACE`` before now, a day per
        transaction, from its cursor (or its first change)."""
        await self._sealed(tenant)

    async def _sealed(self, tenant: str, shared: AsyncSession | None = None) -> _Cursor | None:
        """``seal``; the cursor as read when it was up to date already (else None).
        ``shared``: a session on the primary to read the cursor with."""
        now = self._clock.now()
        target = floor_time(now - SEAL_GRACE, FIVE_MINUTES)
        if shared is not None:
            cursor = await _cursor(shared, tenant)
        else:
            async with storage_errors(), self._writes() as session:
                cursor = await _cursor(session, tenant)
        if cursor is not None and cursor.sealed_at >= target:  # up to date: no write
            return cursor
        while True:
            async with storage_errors(), self._writes.begin() as session:
                if not await self._seal_chunk(session, tenant, target, now):
                    return None

    async def _seal_chunk(
        self, session: AsyncSession, tenant: str, target: datetime, now: datetime
    ) -> bool:
        """One chunk; whether there is more to do."""
        await session.execute(_insert_ignore(self._dialect, tenant))
        row = await session.scalar(
            select(HistoryCursorRow).where(HistoryCursorRow.tenant == tenant).with_for_update()
        )
        if row is None or row.sealed_at >= target:  # (it was inserted above)
            return False
        holdings = Holdings.from_json(row.state)
        start = row.sealed_at
        continuing = row.first_at is not None  # else nothing was held before ``start``
        if row.first_at is None:
            first = await _first_change(session, tenant, row.sealed_at)
            start = target if first is None else bucket_holding(first, FIVE_MINUTES)
            if start >= target:  # nothing held by the target yet
                row.sealed_at = target
                return False
            row.first_at = start + FIVE_MINUTES
        end = min(target, start + SEAL_CHUNK * FIVE_MINUTES)
        window = Window(start, end, FIVE_MINUTES)
        events = await _events(session, tenant, start, end, FIVE_MINUTES, holdings)
        walk = ValueWalk(window, holdings)
        points = [point for event in events for point in walk.feed(event)]
        points += walk.finish()
        await self._keep(session, tenant, start, points, now, continuing=continuing)
        row.sealed_at = end
        row.state = walk.holdings.to_json()
        return end < target

    async def _keep(
        self,
        session: AsyncSession,
        tenant: str,
        start: datetime,
        points: Sequence[HistoryPoint],
        now: datetime,
        *,
        continuing: bool,
    ) -> None:
        """The points at the 5-minute boundaries after ``start`` into the rows of each step
        whose boundaries they are, after those rows' values up to ``start`` (none, when the
        history begins there). Rows retention would drop at once are not written."""
        limits = self._retention.limits(now)
        spans: dict[tuple[int, datetime], tuple[int, list[HistoryPoint]]] = {}
        for index, point in enumerate(points):
            end = start + (index + 1) * FIVE_MINUTES
            for seconds in STEPS:
                if int((end - EPOCH).total_seconds()) % seconds:
                    continue
                opened = bucket_holding(end, _span(seconds))
                if seconds in limits and opened + _span(seconds) < limits[seconds]:
                    continue  # retention would drop the row at once
                first = (end - opened) // timedelta(seconds=seconds) - 1
                spans.setdefault((seconds, opened), (first, []))[1].append(point)
        if not spans:
            return
        r = HistorySpanRow
        kept: dict[tuple[int, datetime], dict[str, str]] = {key: {} for key in spans}
        for seconds, opened, chain, text in await session.execute(
            select(r.step, r.start, r.chain, r.points).where(
                r.tenant == tenant, tuple_(r.step, r.start).in_(list(spans))
            )
        ):
            kept[(seconds, opened)][chain] = text
        rows = []
        for (seconds, opened), (first, news) in spans.items():
            chains = set(kept[(seconds, opened)])
            chains |= {chain for point in news for chain in point.by_chain}
            for chain in sorted(chains):
                before = kept[(seconds, opened)].get(chain) if continuing else None
                values = [value or None for value in _decode(before or "")][:first]
                values += [None] * (first - len(values))
                values += [_compact(point.by_chain.get(Chain(chain))) for point in news]
                rows.append(
                    {"tenant": tenant, "step": seconds, "start": opened, "chain": chain,
                     "points": _encode(values)}
                )  # fmt: skip
        statement = insert_for(self._dialect, HistorySpanRow)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant", "step", "start", "chain"],
                set_={"points": statement.excluded.points},
            ),
            rows,
        )

    async def lagging(self, behind: timedelta, limit: int) -> list[str]:
        since = self._clock.now() - behind
        cursor = HistoryCursorRow
        query = (
            select(WalletRow.tenant)
            .distinct()
            .outerjoin(cursor, cursor.tenant == WalletRow.tenant)
            .where((cursor.sealed_at < since) | cursor.sealed_at.is_(None))
            .order_by(WalletRow.tenant)
            .limit(limit)
        )
        async with storage_errors(), self._writes() as session:
            return list(await session.scalars(query))

    async def chains_of(self, tenant: str) -> list[Chain]:
        query = select(WalletRow.chain).where(WalletRow.tenant == tenant).distinct()
        async with storage_errors(), self._sessions() as session:
            return sorted(Chain(chain) for chain in await session.scalars(query))

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """Each (wallet, token)'s last change at or before the moment (found by the index on
        (wallet, token, time), so the cost follows the tokens, not the length of the
        history), valued at the token's last price at or before the moment."""
        async with storage_errors(), self._sessions() as session:
            rows = await _held_rows(session, tenant, moment, wallet_id, self._dialect)
            prices = await _prices_at(session, {(Chain(r[1]), r[4]) for r in rows}, moment)
        held = []
        for wallet, chain, address, label, key, symbol, decimals, raw, at in rows:
            price = prices.get((Chain(chain), key))
            value = None
            if price is not None:
                with localcontext(VALUE_CONTEXT):
                    value = Amount(int(raw), decimals).value * price
            held.append(
                HeldAt(wallet, Chain(chain), address, label, key, symbol, decimals, int(raw),
                       price, value, at)
            )  # fmt: skip
        return held

    async def prune(self, batch: int = 5000) -> int:
        """Drop one batch of the prices and points past their retention; how many rows went.
        The newest 5-minute and hourly price of each token before its limit stays: the first
        point kept still needs the last price before it."""
        now = self._clock.now()
        dropped = 0
        async with storage_errors(), self._writes.begin() as session:
            for step, oldest in self._retention.limits(now).items():
                dropped += await _prune_points(session, step, oldest, batch)
                dropped += await _prune_prices(session, step, oldest, batch)
        return dropped


def _insert_ignore(dialect: str, tenant: str) -> Executable:
    """The tenant's cursor row, at the epoch with nothing held, unless it has one."""
    statement: Executable = (
        insert_for(dialect, HistoryCursorRow)
        .values(tenant=tenant, first_at=None, sealed_at=EPOCH, state=Holdings().to_json())
        .on_conflict_do_nothing(index_elements=["tenant"])
    )
    return statement


async def _cursor(session: AsyncSession, tenant: str) -> _Cursor | None:
    row = await session.get(HistoryCursorRow, tenant)
    if row is None:
        return None
    return _Cursor(row.first_at, row.sealed_at, Holdings.from_json(row.state))


async def _first_change(session: AsyncSession, tenant: str, after: datetime) -> datetime | None:
    c = BalanceChangeRow
    first: datetime | None = await session.scalar(
        select(func.min(c.changed_at))
        .join(WalletRow, WalletRow.id == c.wallet_id)
        .where(WalletRow.tenant == tenant, c.changed_at > after)
    )
    return first


async def _kept_points(
    session: AsyncSession, tenant: str, part: Window, cursor: _Cursor
) -> list[HistoryPoint] | None:
    """The points of the part's buckets that end by the cursor, from the kept ones (a bucket
    ending before the first kept point holds nothing); None when one of them from the first
    kept point on has none (retention dropped it)."""
    step = part.step
    count = max(0, min(part.count, (cursor.sealed_at - part.start) // step))
    if count == 0 or cursor.first_at is None:
        return [HistoryPoint(b, Decimal(0), {}) for b in part.buckets()[:count]]
    kept = await _kept_values(session, tenant, part.start, count, step)
    first = min(count, max(0, -(-(cursor.first_at - part.start) // step) - 1))  # ends at or after
    chains, series = list(kept), list(kept.values())
    if not series or any(value is None for values in series for value in values[first:]):
        return _points_with_gaps(part.start, step, first, chains, series, count)
    # Every chain has a value at every bucket from the first kept point: built a list at a
    # time, not a bucket at a time (a third of the time).
    zero = Decimal(0)
    held = [cast(list[Decimal], values[first:]) for values in series]  # no None, as checked
    totals = held[0]
    with localcontext(VALUE_CONTEXT):
        for values in held[1:]:
            totals = list(map(add, totals, values))
    # Each start the one before plus the step (a datetime and timedeltas: typed as objects).
    buckets = cast(Iterator[datetime], accumulate(repeat(step, count - 1), initial=part.start))
    empty = [HistoryPoint(bucket, zero, {}) for bucket in islice(buckets, first)]
    by_chain = map(dict, map(zip, repeat(chains), zip(*held, strict=True)))
    return empty + list(map(HistoryPoint, buckets, totals, by_chain))


def _points_with_gaps(
    start: datetime,
    step: timedelta,
    first: int,
    chains: list[Chain],
    series: list[list[Decimal | None]],
    count: int,
) -> list[HistoryPoint] | None:
    """``_kept_points`` where some chain has no value at some bucket (it was held later than
    another, or retention dropped the point: None)."""
    points = []
    bucket = start
    zero = Decimal(0)
    with localcontext(VALUE_CONTEXT):
        for index in range(count):
            by_chain = {
                c: v
                for c, kept in zip(chains, series, strict=True)
                if (v := kept[index]) is not None
            }
            if not by_chain and index >= first:
                return None
            points.append(HistoryPoint(bucket, sum(by_chain.values(), zero), by_chain))
            bucket += step
    return points


async def _kept_values(
    session: AsyncSession, tenant: str, start: datetime, count: int, step: timedelta
) -> dict[Chain, list[Decimal | None]]:
    """Each chain's kept value at the end of each of ``count`` buckets from ``start`` (None
    where none is kept), from the rows of the window's step that span those ends."""
    seconds = int(step.total_seconds())
    span = _span(seconds)
    until = start + count * step
    r = HistorySpanRow
    rows = await session.execute(
        select(r.chain, r.start, r.points).where(
            r.tenant == tenant, r.step == seconds, r.start > start - span, r.start < until
        )
    )
    values: dict[Chain, list[Decimal | None]] = {}
    for chain, opened, text in rows:
        # The buckets whose ends fall in (opened, opened + span], and where the first one's
        # end is in the row's values.
        low, high = max(0, (opened - start) // step), min(count, (opened + span - start) // step)
        if low >= high:
            continue
        offset = (start + (low + 1) * step - opened) // step - 1
        picked = _decode(text)[offset : offset + high - low]
        series = values.setdefault(Chain(chain), [None] * count)
        series[low : low + len(picked)] = (
            [Decimal(value) if value else None for value in picked]
            if "" in picked
            else list(map(Decimal, picked))
        )
    return values


def _compact(value: Decimal | None) -> str | None:
    """A kept value as text, exact, without the trailing zeros of a product's exponent."""
    if value is None:
        return None
    text = str(value)
    return text.rstrip("0").rstrip(".") if "." in text and "E" not in text else text


def _encode(values: Sequence[str | None]) -> str:
    return ",".join(value or "" for value in values)


def _decode(text: str) -> list[str]:
    """The values of a day's row ("" where none is kept)."""
    return text.split(",") if text else []


async def _holdings_at(
    session: AsyncSession, tenant: str, moment: datetime, dialect: str
) -> Holdings:
    """The tenant's amount of each token at the moment (each wallet's last change at or
    before it, summed) and each token's last price at or before it."""
    rows = await _held_rows(session, tenant, moment, None, dialect)
    holdings = Holdings()
    with localcontext(VALUE_CONTEXT):
        for _, chain, _, _, key, _, decimals, raw, _ in rows:
            token = (Chain(chain), key)
            amount = Amount(int(raw), decimals).value
            holdings.held[token] = holdings.held.get(token, Decimal(0)) + amount
    holdings.prices.update(await _prices_at(session, set(holdings.held), moment))
    return holdings


async def _events(
    session: AsyncSession,
    tenant: str,
    after: datetime,
    until: datetime,
    step: timedelta,
    holdings: Holdings,
) -> list[Event]:
    """The tenant's changes and the prices of its tokens after ``after`` up to ``until``, in
    time order, for buckets of ``step``. Prices are read from the series of that step and the
    longer ones (each kept price is the last one of its bucket, which is all a bucket's end
    needs); a token first held in that time gets its price at ``after`` too."""
    c = BalanceChangeRow
    changes: list[Event] = [
        Change(Chain(chain), key, at, delta)
        for chain, key, at, delta in await session.execute(
            select(WalletRow.chain, c.token_key, c.changed_at, c.delta)
            .join(WalletRow, WalletRow.id == c.wallet_id)
            .where(WalletRow.tenant == tenant, c.changed_at > after, c.changed_at <= until)
            .order_by(c.changed_at, c.id)
        )
    ]
    tokens = set(holdings.held) | {(change.chain, change.token) for change in changes}
    if not tokens:
        return list(changes)
    new = tokens - set(holdings.prices)
    if new:
        holdings.prices.update(await _prices_at(session, new, after))
    p = PricePointRow
    prices: list[Event] = [
        PriceSeen(Chain(chain), key, at, usd)
        for chain, key, at, usd in await session.execute(
            select(p.chain, p.token_key, p.priced_at, p.usd_price)
            .where(
                tuple_(p.chain, p.token_key).in_([(ch.value, key) for ch, key in tokens]),
                p.step_seconds >= int(step.total_seconds()),
                p.priced_at > after,
                p.priced_at <= until,
            )
            .order_by(p.priced_at, p.step_seconds)
        )
    ]
    return list(heapq.merge(changes, prices, key=_time))


def _time(event: Event) -> datetime:
    return event.at


async def _prices_at(
    session: AsyncSession, tokens: set[TokenKey], moment: datetime
) -> dict[TokenKey, Decimal]:
    """Each token's last price at or before the moment (any step), by one index lookup each."""
    if not tokens:
        return {}
    p = PricePointRow
    lookups = [
        select(p.chain, p.token_key, p.usd_price)
        .where(p.chain == chain.value, p.token_key == key, p.priced_at <= moment)
        .order_by(p.priced_at.desc(), p.step_seconds)
        .limit(1)
        .subquery()
        .select()
        for chain, key in sorted(tokens)
    ]
    found: dict[TokenKey, Decimal] = {}
    for start in range(0, len(lookups), 200):  # statements of a bounded size
        first, *rest = lookups[start : start + 200]
        for chain, key, price in await session.execute(first.union_all(*rest)):
            found[(Chain(chain), key)] = price
    return found


async def _held_rows(
    session: AsyncSession, tenant: str, moment: datetime, wallet_id: UUID | None, dialect: str
) -> list[Any]:
    query = _held_at_query(tenant, moment, wallet_id, lateral=dialect == "postgresql")
    return list((await session.execute(query)).all())


def _held_at_query(
    tenant: str, moment: datetime, wallet_id: UUID | None, *, lateral: bool
) -> Executable:
    """One query on both databases, led by the index on (wallet, token, time): each of the
    tenant's wallets' tokens found by skipping from one token to the next in the index (a
    recursive CTE), then each token's last change at or before the moment by one index
    lookup."""
    changes = BalanceChangeRow.__table__

    def next_key(wallet: Any, after: Any = None) -> Any:
        """The first token of the wallet (after ``after``) with a change by the moment."""
        change = changes.alias()
        found = select(func.min(change.c.token_key)).where(
            change.c.wallet_id == wallet, change.c.changed_at <= moment
        )
        if after is not None:
            found = found.where(change.c.token_key > after)
        return found.scalar_subquery()

    wallets = select(WalletRow.id.label("wallet_id"), next_key(WalletRow.id).label("token_key"))
    wallets = wallets.where(WalletRow.tenant == tenant)
    if wallet_id is not None:
        wallets = wallets.where(WalletRow.id == wallet_id)
    keys = wallets.cte("held_keys", recursive=True)
    keys = keys.union_all(
        select(keys.c.wallet_id, next_key(keys.c.wallet_id, keys.c.token_key)).where(
            keys.c.token_key.is_not(None)
        )
    )
    h, s = BalanceChangeRow, aliased(BalanceChangeRow)  # the row shown, the changes looked up
    at_key = (s.wallet_id == keys.c.wallet_id, s.token_key == keys.c.token_key,
              s.changed_at <= moment)  # fmt: skip
    newest = (s.changed_at.desc(), s.id.desc())
    shown = (h.wallet_id, WalletRow.chain, WalletRow.address, WalletRow.label, h.token_key,
             h.symbol, h.decimals, h.raw_balance, h.changed_at)  # fmt: skip
    if lateral:  # PostgreSQL: each token's last change by one index lookup
        last = select(s.id).where(*at_key).order_by(*newest).limit(1).lateral("last_change")
        return (
            select(*shown)
            .select_from(keys)
            .join(last, true())
            .join(h, h.id == last.c.id)
            .join(WalletRow, WalletRow.id == h.wallet_id)
        )
    # SQLite, which has no LATERAL: the id by a correlated lookup, then the row by its key.
    last_id = select(s.id).where(*at_key).order_by(*newest).limit(1).scalar_subquery()
    ids = select(last_id.label("id")).select_from(keys).where(keys.c.token_key.is_not(None))
    found = ids.subquery()
    return (
        select(*shown)
        .select_from(found)
        .join(h, h.id == found.c.id)
        .join(WalletRow, WalletRow.id == h.wallet_id)
    )


async def _prune_points(session: AsyncSession, seconds: int, oldest: datetime, batch: int) -> int:
    """Drop a batch of the rows of a step whose points are all before its limit."""
    r, doomed = HistorySpanRow, aliased(HistorySpanRow)
    keys = (
        select(doomed.tenant, doomed.step, doomed.start, doomed.chain)
        .where(doomed.step == seconds, doomed.start < oldest - _span(seconds))
        .limit(batch)
    )
    result = await session.execute(
        delete(r).where(tuple_(r.tenant, r.step, r.start, r.chain).in_(keys))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _prune_prices(session: AsyncSession, step: int, oldest: datetime, batch: int) -> int:
    p, doomed, newer = PricePointRow, aliased(PricePointRow), aliased(PricePointRow)
    # A price before the limit goes when a later one of its token (still before it) stands in.
    superseded = (
        select(newer.bucket)
        .where(
            newer.chain == doomed.chain,
            newer.token_key == doomed.token_key,
            newer.step_seconds == step,
            newer.bucket > doomed.bucket,
            newer.bucket < oldest,
        )
        .exists()
    )
    keys = (
        select(doomed.chain, doomed.token_key, doomed.bucket)
        .where(doomed.step_seconds == step, doomed.bucket < oldest, superseded)
        .limit(batch)
    )
    result = await session.execute(
        delete(p).where(p.step_seconds == step, tuple_(p.chain, p.token_key, p.bucket).in_(keys))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _parts(window: Window, buckets: int) -> list[Window]:
    """The window in windows of at most ``buckets`` buckets, in order."""
    span = window.step * buckets
    starts = [window.start + i * span for i in range(-(-window.count // buckets))]
    return [Window(start, min(start + span, window.end), window.step) for start in starts]
