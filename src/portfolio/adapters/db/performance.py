"""What a performance is computed from, read in one transaction: the positions at a window's
start (each wallet's token's last change at or before it), the changes after it and each
token's prices at the window's boundaries (from the price series of the window's step and the
longer ones: each kept price is the last of its bucket, all a boundary needs).

Reading a year of changes and valuing every position at every boundary on each request would
cost what the changes cost, so for daily windows each token's and wallet's track
(domain.performance.Track: values, flows and flags at each boundary) is computed once and kept
in ``performance_tracks`` (288 boundaries a row) up to a cursor (``performance_cursors``: the
boundary reached and every position's amount there), which stays ``SEAL_GRACE`` behind the
present like the history's; a write older than the cursor drops it (ledger.forget_history_after).
A request reads the tracks of its window and computes the buckets after the cursor from the
positions there. One wallet's performance (a few positions) is computed from the records.
"""

from __future__ import annotations

import base64
import json
import sys
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    Executable,
    Integer,
    String,
    case,
    column,
    literal,
    select,
    text,
    tuple_,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.engine import insert_for
from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.history import (
    SEAL_GRACE,
    SPAN_POINTS,
    STEPS,
    _compact,
    _first_change,
    _held_rows,
    _prices_at,
)
from portfolio.adapters.db.models import (
    BalanceChangeRow,
    PerformanceCellRow,
    PerformanceCursorRow,
    PerformanceTrackRow,
    PricePointRow,
    WalletRow,
)
from portfolio.adapters.db.types import UtcDateTime
from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    EPOCH,
    TokenKey,
    Window,
    bucket_holding,
    earliest_before,
    floor_time,
)
from portfolio.domain.performance import (
    ONE,
    ZERO,
    Indexed,
    Moved,
    Position,
    Recorded,
    Track,
    Tracked,
    WalletSeen,
    by_boundary,
    first_tracked,
    prices_at_boundaries,
    tracks,
)
from portfolio.domain.prices import VALUE_CONTEXT
from portfolio.ports.clock import Clock

KEPT_STEPS = (86400,)  # the steps whose tracks are kept: daily (windows of months and years)


async def recorded(
    session: AsyncSession,
    dialect: str,
    tenant: str,
    window: Window,
    wallet_id: UUID | None = None,
    chain: Chain | None = None,
) -> Recorded:
    """The tenant's positions (of one wallet, or of one chain's wallets) over the window."""
    wallets = await _wallets(session, tenant, wallet_id, chain)
    held: dict[Position, Decimal] = {}
    symbols: dict[TokenKey, str | None] = {}
    first_record = None
    for wallet, _, _, _, key, symbol, decimals, raw, at in await _held_rows(
        session, tenant, window.start, wallet_id, dialect
    ):
        if wallet not in wallets:  # another chain's
            continue
        position = Position(wallet, wallets[wallet].chain, key)
        held[position] = Amount(int(raw), decimals).value
        symbols[position.token_key] = symbol
        first_record = at if first_record is None else min(first_record, at)
    read = _summed_changes if dialect == "postgresql" else _changes
    changes, first_change = await read(session, window, wallets, symbols)
    prices = await _prices(session, window, set(symbols))
    named: dict[Hashable, WalletSeen] = {wallet: seen for wallet, seen in wallets.items()}
    return Recorded(window, held, changes, prices, first_record or first_change, symbols, named)


async def _wallets(
    session: AsyncSession, tenant: str, wallet_id: UUID | None, chain: Chain | None
) -> dict[UUID, WalletSeen]:
    w = WalletRow
    query = select(w.id, w.chain, w.address, w.label).where(w.tenant == tenant)
    if wallet_id is not None:
        query = query.where(w.id == wallet_id)
    if chain is not None:
        query = query.where(w.chain == chain.value)
    chains: dict[str, Chain] = {}
    return {
        wallet: WalletSeen(chains.setdefault(name, Chain(name)), address, label)
        for wallet, name, address, label in await session.execute(query)
    }


Changes = dict[Position, dict[int, Decimal]]


async def _changes(
    session: AsyncSession,
    window: Window,
    wallets: Mapping[UUID, WalletSeen],
    symbols: dict[TokenKey, str | None],
) -> tuple[Changes, datetime | None]:
    """The changes in the window, each read and placed at its boundary here; the time of the
    first. (SQLite keeps amounts as text, which it cannot sum exactly.)"""
    c = BalanceChangeRow
    query = (
        select(c.wallet_id, c.token_key, c.symbol, c.changed_at, c.delta)
        .where(
            c.wallet_id.in_(list(wallets)),
            c.changed_at > window.start,
            c.changed_at <= window.last_end,
        )
        .order_by(c.changed_at, c.id)
    )
    moves = []
    for wallet, key, symbol, at, delta in await session.execute(query):
        position = Position(wallet, wallets[wallet].chain, key)
        moves.append(Moved(position, at, delta))
        symbols[position.token_key] = symbol
    return by_boundary(window, moves), moves[0].at if moves else None


# The changes in a window summed by (wallet, token, boundary) in the database: a boundary is
# the first one at or after the change (the bucket's end), counted from the window's start.
# (The seconds as a double: exact to far below a microsecond over centuries, and a third
# cheaper than extract's numeric.)
SUMMED_CHANGES = text(
    """
    SELECT wallet_id::text, token_key, max(symbol), boundary, sum(delta), min(changed_at)
    FROM (
        SELECT wallet_id, token_key, symbol, delta, changed_at,
               CAST(ceil(date_part('epoch', changed_at - :start) / :step) AS integer)
                 AS boundary
        FROM balance_changes
        WHERE wallet_id = ANY(:wallets) AND changed_at > :start AND changed_at <= :end
    ) placed
    GROUP BY wallet_id, token_key, boundary
    """
)


async def _summed_changes(
    session: AsyncSession,
    window: Window,
    wallets: Mapping[UUID, WalletSeen],
    symbols: dict[TokenKey, str | None],
) -> tuple[Changes, datetime | None]:
    """PostgreSQL: the changes summed by boundary there (exact NUMERIC), one row for each
    (wallet, token, boundary) with changes, however many changes it holds."""
    if not wallets:
        return {}, None
    ids = {str(wallet): (wallet, seen.chain) for wallet, seen in wallets.items()}
    connection = await session.connection()  # rows as the driver gives them: no ORM on top
    rows = await connection.execute(
        SUMMED_CHANGES,
        {"start": window.start, "end": window.last_end, "wallets": list(wallets),
         "step": int(window.step.total_seconds())},
    )  # fmt: skip
    changes: Changes = {}
    placed: dict[tuple[str, str], dict[int, Decimal]] = {}  # by text: hashed at C speed
    first: datetime | None = None
    for wallet, key, symbol, boundary, delta, at in rows:
        at_boundaries = placed.get((wallet, key))
        if at_boundaries is None:
            uuid, chain = ids[wallet]
            at_boundaries = placed[(wallet, key)] = changes[Position(uuid, chain, key)] = {}
            symbols[(chain, key)] = symbol
        at_boundaries[boundary] = delta
        first = at if first is None or at < first else first
    return changes, first


async def _prices(
    session: AsyncSession,
    window: Window,
    tokens: set[TokenKey],
    known: Mapping[TokenKey, Decimal | None] | None = None,
) -> dict[TokenKey, list[Decimal | None]]:
    """Each token's price at each boundary: its last at or before the window's start (from
    ``known`` where it says, else read), then the series of the window's step and the longer
    ones, read by their key (token, step, bucket)."""
    if not tokens:
        return {}
    known = known or {}
    unknown = {token for token in tokens if token not in known}
    first = dict(known) | (await _prices_at(session, unknown, window.start) if unknown else {})
    p = PricePointRow
    step = int(window.step.total_seconds())
    steps = [s for s in STEPS if s >= step]
    keys = [(chain.value, key, s) for chain, key in sorted(tokens) for s in steps]
    seen: dict[TokenKey, list[tuple[datetime, Decimal]]] = {token: [] for token in tokens}
    for start in range(0, len(keys), 300):  # statements of a bounded size
        query = (
            select(p.chain, p.token_key, p.priced_at, p.usd_price)
            .where(
                tuple_(p.chain, p.token_key, p.step_seconds).in_(keys[start : start + 300]),
                # By the key alone (times outside the window are left out by
                # prices_at_boundaries): the priced_at index would read every step's rows.
                p.bucket >= earliest_before(window.start, timedelta(seconds=max(steps))),
                p.bucket < window.last_end,
            )
            .order_by(p.priced_at, p.step_seconds)
        )
        for chain_name, key, at, usd in await session.execute(query):
            seen[(Chain(chain_name), key)].append((at, usd))
    return {
        token: prices_at_boundaries(window, first.get(token), sorted(seen[token]))
        for token in tokens
    }


class SqlPerformanceReader:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialect: str,
        clock: Clock | None = None,
        *,
        write_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """``sessions`` read (a replica, maybe); ``write_sessions`` keep tracks (the primary).
        Without a ``clock`` nothing is kept: every window is computed from the records."""
        self._sessions = sessions
        self._writes = write_sessions or sessions
        self._dialect = dialect
        self._clock = clock
        self._reads = _KeptReads(KEPT_READS)

    async def recorded(
        self,
        tenant: str,
        window: Window,
        wallet_id: UUID | None = None,
        chain: Chain | None = None,
        *,
        scaled: bool = False,
    ) -> Recorded | Tracked:
        """The window's tracks where they are kept (a daily window of the tenant or one of
        its chains, starting by the cursor), else the records. ``scaled``: the values are to
        be converted, so every bucket's values and flows are read (else the wallets' figures
        are read from their indexes)."""
        step = int(window.step.total_seconds())
        if wallet_id is None and self._clock is not None and step in KEPT_STEPS:
            # Read as kept; where the cursor is behind (it moved on since, or was dropped),
            # keep up to now and read again (from a replica behind, as it is then).
            target: datetime | None = floor_time(self._clock.now() - SEAL_GRACE, window.step)
            while True:
                try:
                    async with storage_errors(), self._sessions() as session:
                        kept = await _tracked(
                            session, self._dialect, tenant, window, chain, scaled, self._reads,
                            target,
                        )  # fmt: skip
                    break
                except _BehindError:
                    await self._keep(tenant, window.step)
                    target = None
            if kept is not None:
                return kept
        async with storage_errors(), self._sessions() as session:
            return await recorded(session, self._dialect, tenant, window, wallet_id, chain)

    async def keep(self, tenant: str) -> None:
        """Compute and keep the tenant's tracks up to ``SEAL_GRACE`` before now."""
        for step in KEPT_STEPS:
            await self._keep(tenant, timedelta(seconds=step))

    async def _keep(self, tenant: str, step: timedelta) -> None:
        """Up to the last boundary ``SEAL_GRACE`` before now, ``SPAN_POINTS`` boundaries a
        transaction, from the cursor (or the boundary before the first change)."""
        if self._clock is None:  # nothing kept without one
            return
        target = floor_time(self._clock.now() - SEAL_GRACE, step)
        c = PerformanceCursorRow
        async with storage_errors(), self._writes() as session:
            kept_at = await session.scalar(  # (not its state: the cursor's time is enough)
                select(c.kept_at).where(c.tenant == tenant, c.step == int(step.total_seconds()))
            )
            if kept_at is not None and kept_at >= target:  # up to date: no write
                return
        while True:
            async with storage_errors(), self._writes.begin() as session:
                if not await self._keep_chunk(session, tenant, step, target):
                    return

    async def _keep_chunk(
        self, session: AsyncSession, tenant: str, step: timedelta, target: datetime
    ) -> bool:
        """One chunk; whether there is more to do."""
        seconds = int(step.total_seconds())
        await session.execute(_insert_ignore(self._dialect, tenant, seconds))
        row = await session.scalar(
            select(PerformanceCursorRow)
            .where(PerformanceCursorRow.tenant == tenant, PerformanceCursorRow.step == seconds)
            .with_for_update()
        )
        if row is None or row.kept_at >= target:  # (it was inserted above)
            return False
        row.version = uuid4().hex  # what is kept changes
        state = _State.from_json(row.state)  # (a new text each chunk: nothing to reuse)
        symbols = dict(state.symbols)
        start = row.kept_at
        continuing = row.first_at is not None  # else nothing was held before ``start``
        if row.first_at is None:
            first = await _first_change(session, tenant, row.kept_at)
            start = target if first is None else bucket_holding(first, step)
            if start >= target:  # nothing held by the target yet
                row.kept_at = target
                return False
            row.first_at = start
        window = Window(start, min(target, start + SPAN_POINTS * step), step)
        wallets = await _wallets(session, tenant, None, None)
        held, changes, prices = await _after(
            session, self._dialect, window, wallets, state, symbols
        )
        tokens, by_wallet = tracks(window, held, changes, prices)
        indexed = {
            wallet: Indexed.of(track, *state.indexes.get(wallet, (ONE, ZERO, ZERO)))
            for wallet, track in by_wallet.items()
        }
        await _write_tracks(
            session, self._dialect, tenant, window, tokens, by_wallet, indexed, continuing
        )
        with localcontext(VALUE_CONTEXT):
            for position, at in changes.items():
                held[position] = held.get(position, ZERO) + sum(at.values(), ZERO)
        indexes = state.indexes | {
            wallet: (Decimal(kept.index[-1]), Decimal(kept.inflows[-1]), Decimal(kept.outflows[-1]))
            for wallet, kept in indexed.items()
        }
        row.kept_at = window.end
        last = {token: listed[-1] for token, listed in prices.items()}
        row.state = _State(held, symbols, indexes, last).to_json()
        return window.end < target


@dataclass(slots=True)
class _State:
    """At a cursor: every position's amount, each token's symbol, and each wallet's index and
    summed inflows and outflows (to go on from)."""

    held: dict[Position, Decimal] = field(default_factory=dict)
    symbols: dict[TokenKey, str | None] = field(default_factory=dict)
    indexes: dict[Hashable, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    prices: dict[TokenKey, Decimal | None] = field(default_factory=dict)  # (None: unpriced)

    def to_json(self) -> str:
        return json.dumps(
            {
                "held": [
                    [str(p.wallet), p.chain.value, p.token, str(amount)]
                    for p, amount in sorted(self.held.items(), key=lambda item: str(item[0]))
                ],
                "symbols": [
                    [c.value, t, symbol] for (c, t), symbol in sorted(self.symbols.items())
                ],
                "indexes": {
                    str(wallet): list(map(str, figures)) for wallet, figures in self.indexes.items()
                },
                "prices": [
                    [c.value, t, None if usd is None else str(usd)]
                    for (c, t), usd in sorted(self.prices.items())
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> _State:
        data = json.loads(text)
        chains: dict[str, Chain] = {}
        ids: dict[str, UUID] = {}
        state = cls()
        for wallet, chain, token, amount in data["held"]:
            uuid = ids.get(wallet) or ids.setdefault(wallet, UUID(wallet))
            position = Position(
                uuid, chains.get(chain) or chains.setdefault(chain, Chain(chain)), token
            )
            state.held[position] = Decimal(amount)
        for chain, token, symbol in data["symbols"]:
            state.symbols[(Chain(chain), token)] = symbol
        for chain, token, usd in data.get("prices", []):
            state.prices[(Chain(chain), token)] = None if usd is None else Decimal(usd)
        for wallet, (index, inflow, outflow) in data.get("indexes", {}).items():
            state.indexes[ids.get(wallet) or UUID(wallet)] = (
                Decimal(index), Decimal(inflow), Decimal(outflow)
            )  # fmt: skip
        return state


@lru_cache(maxsize=16)
def _state_of(text: str) -> _State:
    """A cursor's state as read from its text: the same text (a cursor that has not moved, read
    by every request until it does) parsed once. Shared: read it, never change it."""
    return _State.from_json(text)


def _insert_ignore(dialect: str, tenant: str, step: int) -> Executable:
    """The tenant's cursor row of the step, at the epoch with nothing held, unless it has one."""
    statement: Executable = (
        insert_for(dialect, PerformanceCursorRow)
        .values(
            tenant=tenant,
            step=step,
            first_at=None,
            kept_at=EPOCH,
            state=_State().to_json(),
            version=uuid4().hex,
        )
        .on_conflict_do_nothing(index_elements=["tenant", "step"])
    )
    return statement


FLAG_BASE = 64  # a cell's flags as one character: "@" + the bits (ASCII up to "_")
UNFLAGGED = bytes((letter - FLAG_BASE) % 256 for letter in range(256))  # a letter's bits
COLUMNS = ("track_values", "inflows", "outflows", "flags", "levels")


def _track_names(
    tokens: Mapping[TokenKey, Track], by_wallet: Mapping[Hashable, Track]
) -> dict[str, tuple[Track, Hashable | None]]:
    named: dict[str, tuple[Track, Hashable | None]] = {
        f"t:{chain.value}:{token}": (track, None) for (chain, token), track in tokens.items()
    }
    return named | {f"w:{wallet}": (track, wallet) for wallet, track in by_wallet.items()}


async def _write_tracks(
    session: AsyncSession,
    dialect: str,
    tenant: str,
    window: Window,
    tokens: Mapping[TokenKey, Track],
    by_wallet: Mapping[Hashable, Track],
    indexed: Mapping[Hashable, Indexed],
    continuing: bool,
) -> None:
    """The tracks' boundaries after the window's start into the rows that hold them, after
    those rows' cells before (none, when the tracks begin there); the wallets' with their
    indexes and summed flows."""
    step = window.step
    span = SPAN_POINTS * step
    parts = []  # (row start, first cell, first boundary, boundaries)
    k = 1
    while k <= window.count:
        opened = bucket_holding(window.start + k * step, span)
        cell = (window.start + k * step - opened) // step - 1
        size = min(window.count - k + 1, SPAN_POINTS - cell)
        parts.append((opened, cell, k, size))
        k += size
    r = PerformanceTrackRow
    seconds = int(step.total_seconds())
    kept: dict[tuple[datetime, str], tuple[str, ...]] = {}
    if continuing:
        for opened, name, *stored in await session.execute(
            select(r.start, r.track, *(getattr(r, c) for c in COLUMNS)).where(
                r.tenant == tenant, r.step == seconds, r.start.in_([p[0] for p in parts])
            )
        ):
            kept[(opened, name)] = tuple(stored)
    rows = []
    for name, (track, wallet) in _track_names(tokens, by_wallet).items():
        index = indexed.get(wallet) if wallet is not None else None
        flags = track.flags if index is None else index.flags
        for opened, cell, k, size in parts:
            texts = kept.get((opened, name), ("",) * len(COLUMNS))
            at = range(k, k + size)
            row = {
                "tenant": tenant, "step": seconds, "start": opened, "track": name,
                "track_values": _cells(texts[0], cell, map(track.values.__getitem__, at)),
                "inflows": _cells(texts[1], cell, map(track.inflow.get, at)),
                "outflows": _cells(texts[2], cell, map(track.outflow.get, at)),
                "flags": texts[3][:cell].ljust(cell, chr(FLAG_BASE))
                + "".join(chr(FLAG_BASE + f) for f in flags[k : k + size]),
                "levels": "",
            }  # fmt: skip
            if index is not None:
                levels = list(_unpacked(texts[4])[:cell])
                levels += [1.0] * (cell - len(levels))
                row["levels"] = _packed([*levels, *index.levels[k : k + size]])
            rows.append(row)
    if not rows:
        return
    statement = insert_for(dialect, PerformanceTrackRow)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant", "step", "start", "track"],
            set_={column: getattr(excluded, column) for column in COLUMNS},
        ),
        rows,
    )
    cells = [
        {"tenant": tenant, "step": seconds, "track": f"w:{wallet}", "at": window.start + k * step,
         "value": index.values[k], "inflow_sum": index.inflows[k],
         "outflow_sum": index.outflows[k], "chained": index.index[k]}
        for wallet, index in indexed.items()
        for k in range(1, window.count + 1)
    ]  # fmt: skip
    if cells:
        into = insert_for(dialect, PerformanceCellRow)
        await session.execute(
            into.on_conflict_do_update(
                index_elements=["tenant", "step", "track", "at"],
                set_={column: getattr(into.excluded, column) for column in CELL_COLUMNS},
            ),
            cells,
        )


def _cells(kept: str, cell: int, values: Iterable[Decimal | None]) -> str:
    """A row's text: its kept cells before ``cell`` (empty ones where it had fewer), then
    ``values`` (empty for None: no value kept, or no flow)."""
    return _joined(kept, cell, [_compact(value) or "" for value in values])


def _joined(kept: str, cell: int, texts: list[str]) -> str:
    cells = (kept.split(",") if kept else [])[:cell]
    cells += [""] * (cell - len(cells))
    return ",".join(cells + texts)


async def _after(
    session: AsyncSession,
    dialect: str,
    window: Window,
    wallets: Mapping[UUID, WalletSeen],
    state: _State,
    symbols: dict[TokenKey, str | None],
) -> tuple[dict[Position, Decimal], Changes, dict[TokenKey, list[Decimal | None]]]:
    """What tracks over the window are computed from: the positions of ``state`` (at the
    window's start) of the given wallets, their changes in the window and their prices; the
    symbols of the tokens changed into ``symbols``."""
    held = {p: amount for p, amount in state.held.items() if p.wallet in wallets}
    read = _summed_changes if dialect == "postgresql" else _changes
    changes, _ = await read(session, window, wallets, symbols)
    tokens = {p.token_key for p in {*held, *changes}}
    return held, changes, await _prices(session, window, tokens, state.prices)


# The reads of kept tracks a reader holds (_KeptReads): each about 5 MB for a tenant of 100
# wallets x 10 tokens over a year, a few KB for a few wallets.
KEPT_READS = 8


@dataclass(frozen=True, slots=True)
class _Kept:
    """What was read of the kept tracks over a window up to the cursor, for figures read from
    the wallets' indexes, and the cursor's state. Shared by every request that reads the same
    while the cursor's version stays: read it, never change it (but for the wallets' exact
    cells, filled in as read: what is kept there)."""

    tokens: dict[TokenKey, Track]
    indexed: dict[Hashable, Indexed]
    state: _State
    held: dict[Hashable, Any] = field(default_factory=dict)  # (Tracked.held)


class _KeptReads:
    """The last ``size`` ``_Kept`` read, by tenant, step, cursor version, window start, end
    of the kept part and chain. Kept tracks change only with their cursor's version (a new one
    at every write of either), so what was read of them is read again only once it moved: a
    daily cursor moves once a day, and every request in between would parse the same year of
    cells (a hundred wallets': about 1 MB of text)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held: OrderedDict[Hashable, _Kept] = OrderedDict()

    def get(self, key: Hashable) -> _Kept | None:
        kept = self._held.get(key)
        if kept is not None:
            self._held.move_to_end(key)
        return kept

    def put(self, key: Hashable, kept: _Kept) -> None:
        self._held[key] = kept
        while len(self._held) > self._size:
            self._held.popitem(last=False)


class _BehindError(Exception):
    """The cursor is behind the boundary it is to be kept to."""


async def _tracked(
    session: AsyncSession,
    dialect: str,
    tenant: str,
    window: Window,
    chain: Chain | None,
    scaled: bool,
    reads: _KeptReads,
    target: datetime | None = None,
) -> Tracked | None:
    """The tracks of the tenant's tokens and wallets (of one chain) over the window: the kept
    ones up to the cursor (as read before while its version stays, unless ``scaled``), then
    computed from the positions there and the changes and prices after it. None when the
    window starts after the cursor (nothing kept of it). The wallets' as Indexed unless
    ``scaled``. _BehindError when the cursor is not kept up to ``target``."""
    step = window.step
    seconds = int(step.total_seconds())
    if dialect == "postgresql":  # the cursor and its tracks as of one moment
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    c = PerformanceCursorRow
    at_cursor = select(c.kept_at, c.version).where(c.tenant == tenant, c.step == seconds)
    cursor = (await session.execute(at_cursor)).first()
    if target is not None and (cursor is None or cursor.kept_at < target):
        raise _BehindError
    if cursor is None or cursor.kept_at < window.start:
        return None
    kept_until = min(cursor.kept_at, window.last_end)
    wallets = await _wallets(session, tenant, None, chain)
    key = (tenant, seconds, cursor.version, window.start, kept_until, chain)
    held = None if scaled else reads.get(key)
    if held is None:
        tokens, by_wallet, indexed = await _kept_tracks(
            session, tenant, window, kept_until, wallets, chain, scaled
        )
        at = (c.tenant == tenant) & (c.step == seconds)
        state = _state_of((await session.execute(select(c.state).where(at))).scalar_one())
        if not scaled:
            held = _Kept(tokens, indexed, state)
            reads.put(key, held)
    else:  # (a wallet added since has nothing kept; one removed dropped the cursor)
        tokens, by_wallet, state = dict(held.tokens), {}, held.state
        indexed = {wallet: kept for wallet, kept in held.indexed.items() if wallet in wallets}
    symbols = dict(state.symbols)
    size = (kept_until - window.start) // step + 1
    if kept_until < window.last_end:
        if not scaled:  # the kept part's last cells, which the part after goes on from
            await _read_cells(session, dialect, tenant, window, indexed, lambda _: (size - 1,))
        tail = Window(kept_until, window.end, step)
        later_tokens, later_wallets = tracks(
            tail, *await _after(session, dialect, tail, wallets, state, symbols)
        )
        empty, later_empty = Track.empty(size), Track.empty(tail.count + 1)
        tokens = {
            token: tokens.get(token, empty).joined(later_tokens.get(token, later_empty))
            for token in tokens.keys() | later_tokens.keys()
        }
        if scaled:
            by_wallet = {
                wallet: by_wallet.get(wallet, empty).joined(later_wallets.get(wallet, later_empty))
                for wallet in by_wallet.keys() | later_wallets.keys()
            }
        else:
            indexed = {
                wallet: (indexed.get(wallet) or Indexed.of(empty)).joined(
                    later_wallets.get(wallet, later_empty)
                )
                for wallet in indexed.keys() | later_wallets.keys()
            }
    if not scaled:  # and where each wallet's figures over the window read them
        first, last = first_tracked(tokens, window.count), window.count
        await _read_cells(
            session, dialect, tenant, window, indexed, lambda kept: kept.wanted(first, last)
        )
    named: dict[Hashable, WalletSeen] = {wallet: seen for wallet, seen in wallets.items()}
    groups = None if held is None else held.held
    return Tracked(window, tokens, by_wallet if scaled else indexed, symbols, named, groups)


async def _kept_tracks(
    session: AsyncSession,
    tenant: str,
    window: Window,
    until: datetime,
    wallets: Mapping[UUID, WalletSeen],
    chain: Chain | None,
    scaled: bool,
) -> tuple[dict[TokenKey, Track], dict[Hashable, Track], dict[Hashable, Indexed]]:
    """The kept tracks over the window's boundaries up to ``until`` (zero where none was kept:
    nothing was recorded by then), of the chain's tokens and the given wallets: the wallets'
    as Indexed unless ``scaled``, with their floats and flags at every boundary and their
    exact cells unread (``_read_cells``)."""
    step = window.step
    span = SPAN_POINTS * step
    size = (until - window.start) // step + 1
    r = PerformanceTrackRow
    is_wallet = r.track.startswith("w:")
    unread = literal("")
    columns = [
        # A wallet's values and flows bucket by bucket are read only to be converted; else
        # its floats, and its exact cells where a window needs them.
        r.track_values if scaled else case((is_wallet, unread), else_=r.track_values),
        r.inflows if scaled else case((is_wallet, unread), else_=r.inflows),
        r.outflows if scaled else case((is_wallet, unread), else_=r.outflows),
        r.flags,
        unread if scaled else r.levels,
    ]
    query = select(r.start, r.track, *columns).where(
        r.tenant == tenant,
        r.step == int(step.total_seconds()),
        r.start >= earliest_before(window.start, span),  # the row holding the start's cell
        r.start < until,
    )
    ids = {str(wallet): wallet for wallet in wallets}
    tokens: dict[TokenKey, Track] = {}
    by_wallet: dict[Hashable, Track] = {}
    indexed: dict[Hashable, Indexed] = {}
    for opened, name, *texts in await session.execute(query):
        kind, _, rest = name.partition(":")
        offset = (opened - window.start) // step + 1  # the boundary of the row's first cell
        low, high = max(0, -offset), min(SPAN_POINTS, size - offset)
        if low >= high:
            continue
        flags = list(texts[3][low:high].encode().translate(UNFLAGGED))
        if kind == "w":
            if rest not in ids:
                continue
            wallet = ids[rest]
            if not scaled:
                kept = indexed.get(wallet) or indexed.setdefault(wallet, Indexed.unread(size))
                levels = _unpacked(texts[4])[low:high]
                kept.levels[low + offset : low + offset + len(levels)] = levels
                kept.flags[low + offset : low + offset + len(flags)] = flags
                continue
            track = by_wallet.get(wallet) or by_wallet.setdefault(wallet, Track.empty(size))
        else:
            chain_name, _, token = rest.partition(":")
            key = (Chain(chain_name), token)
            if chain is not None and key[0] != chain:
                continue
            track = tokens.get(key) or tokens.setdefault(key, Track.empty(size))
        _place_track(track, texts, low, high, offset)
        track.flags[low + offset : low + offset + len(flags)] = flags
    return tokens, by_wallet, indexed


CELL_COLUMNS = ("value", "inflow_sum", "outflow_sum", "chained")  # in Indexed.place's order


def _place_track(track: Track, texts: Sequence[str], low: int, high: int, offset: int) -> None:
    """A row's values and flows, cells ``low`` to ``high``, at their boundaries in ``track``."""
    cells = texts[0].split(",")[low:high]
    track.values[low + offset : low + offset + len(cells)] = (
        [Decimal(cell) if cell else ZERO for cell in cells]
        if "" in cells
        else list(map(Decimal, cells))
    )
    low = max(low, 1 - offset)  # no flow at the window's start: the bucket before it
    for text_flows, into in ((texts[1], track.inflow), (texts[2], track.outflow)):
        if text_flows:
            picked = enumerate(text_flows.split(",")[low:high], low + offset)
            into.update({k: Decimal(flow) for k, flow in picked if flow})


async def _read_cells(
    session: AsyncSession,
    dialect: str,
    tenant: str,
    window: Window,
    indexed: Mapping[Hashable, Indexed],
    boundaries: Callable[[Indexed], Iterable[int]],
) -> None:
    """Each wallet's exact cells at its ``boundaries`` that are not read yet, at once, by their
    key (none kept there: nothing was recorded by then)."""
    step = window.step
    wanted: list[tuple[str, datetime, int]] = [
        (f"w:{wallet}", window.start + k * step, k)
        for wallet, kept in indexed.items()
        for k in boundaries(kept)
        if not kept.index[k]
    ]
    if not wanted:
        return
    names = {f"w:{wallet}": kept for wallet, kept in indexed.items()}
    seconds = int(step.total_seconds())
    for start in range(0, len(wanted), 1000):  # statements of a bounded size
        part = wanted[start : start + 1000]
        if dialect == "postgresql":  # as arrays: a statement of one shape, cheap to build
            tracks_, ats, ks = (list(column) for column in zip(*part, strict=True))
            rows = await session.execute(
                WANTED_CELLS,
                {"tenant": tenant, "step": seconds, "tracks": tracks_, "ats": ats, "ks": ks},
            )
        else:
            rows = await session.execute(_wanted_cells(tenant, seconds, part))
        for name, k, *exact in rows:
            names[name].place(k, *exact)
    for name, _, k in wanted:
        names[name].place(k, None, None, None, None)


# The wanted cells (track, time, boundary) of wallets, on PostgreSQL: each looked up by its key
# whatever the table's statistics say (a join planned on stale ones scanned it all for each;
# the LIMIT keeps the planner from flattening the LATERAL lookup back into that join).
WANTED_CELLS = text(
    """
    SELECT w.track, w.k, c.value, c.inflow_sum, c.outflow_sum, c.chained
    FROM unnest(CAST(:tracks AS text[]), CAST(:ats AS timestamptz[]), CAST(:ks AS integer[]))
      AS w(track, at, k)
    CROSS JOIN LATERAL (
      SELECT value, inflow_sum, outflow_sum, chained FROM performance_cells
      WHERE tenant = :tenant AND step = :step AND track = w.track AND at = w.at
      LIMIT 1
    ) c
    """
)


def _wanted_cells(tenant: str, step: int, wanted: list[tuple[str, datetime, int]]) -> Executable:
    """``WANTED_CELLS`` elsewhere: the cells as a VALUES list."""
    c = PerformanceCellRow
    cells = (
        values(
            column("track", String),
            column("at", UtcDateTime()),
            column("k", Integer),
            name="wanted",
        )
        .data(wanted)
        .cte("wanted")
    )
    exact = (getattr(c, name) for name in CELL_COLUMNS)
    return select(cells.c.track, cells.c.k, *exact).join(
        cells,
        (c.tenant == tenant) & (c.step == step) & (c.track == cells.c.track) & (c.at == cells.c.at),
    )


def _packed(levels: Sequence[float]) -> str:
    """Floats as base64 of little-endian doubles: read back at C speed, where parsing a
    year of a hundred wallets' decimal text as floats takes tens of milliseconds."""
    packed = array("d", levels)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


def _unpacked(text: str) -> array[float]:
    packed = array("d")
    packed.frombytes(base64.b64decode(text))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed
