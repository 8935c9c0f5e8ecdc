"""How a portfolio performed over a window, and why: price moves or money moved in and out.

The window's bucket edges are its boundaries, B_k = start + k * step (k = 0..n). At each, a
position (a wallet's token) holds its last recorded amount at or before B_k and the token is
worth its last price at or before B_k: the definition of a history point, so the value at a
boundary is the history's. Over a bucket (B_k-1, B_k]:
- the flow is what changed in amount, valued at the token's price at B_k: the changes of a
  token are netted over the positions of the group first, so a transfer between two tracked
  wallets is no flow of the portfolio, of a chain or of the token (when both sides land in one
  bucket); positive is an inflow, negative an outflow;
- a token's first price inside the window brings what is held then in as an inflow at that
  price (before it, the token counted 0: its appearance in the valuation is not a gain);
- the market effect is the rest: the value change less the flow, which for a priced token is
  the amount held at B_k-1 times its price change. Market and flows add up to the change
  exactly, in every group.
The time-weighted return chains each bucket's market effect over the value at its start, so
flows move the value but not the return; the maximum drawdown is the deepest fall of that chain
from a peak before it. A window that starts before the first record starts at the boundary where
the first record shows.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal, localcontext
from itertools import accumulate, repeat
from math import inf, isfinite
from operator import add, itemgetter, mul, sub, truediv
from typing import Any, NamedTuple, TypeVar

from portfolio.domain.chains import Chain
from portfolio.domain.errors import ValidationError
from portfolio.domain.history import TokenKey, Window, bucket_holding
from portfolio.domain.prices import VALUE_CONTEXT

_K = TypeVar("_K", bound=Hashable)
RATIO_CONTEXT = Context(prec=50)
# The index is computed at 50 digits and kept at 40: rounding in the last places (an index
# that should stay at 1 coming out at 0.999...9) is no return and no fall.
INDEX_CONTEXT = Context(prec=40)


class RateMissingError(ValidationError):
    field = "currency"


# returns are ratios: 50 digits, far past any shown place
ZERO, ONE = Decimal(0), Decimal(1)


class Position(NamedTuple):
    wallet: Hashable
    chain: Chain
    token: str

    @property
    def token_key(self) -> TokenKey:
        return (self.chain, self.token)


@dataclass(frozen=True, slots=True)
class Moved:
    """A position's amount changed by ``delta`` tokens at ``at``."""

    position: Position
    at: datetime
    delta: Decimal


@dataclass(frozen=True, slots=True)
class Figures:
    """One group's performance (the portfolio, a chain, a token or a wallet): values and flows
    exact, the return and drawdown as ratios (RATIO_CONTEXT)."""

    start_value: Decimal
    end_value: Decimal
    inflow: Decimal
    outflow: Decimal
    time_weighted_return: Decimal
    max_drawdown: Decimal  # 0 or negative: -0.25 is a fall of a quarter
    peak: int | None  # the boundaries of the deepest fall, by index from the start
    trough: int | None

    @property
    def change(self) -> Decimal:
        with localcontext(VALUE_CONTEXT):
            return self.end_value - self.start_value

    @property
    def flow_effect(self) -> Decimal:
        with localcontext(VALUE_CONTEXT):
            return self.inflow - self.outflow

    @property
    def market_effect(self) -> Decimal:
        with localcontext(VALUE_CONTEXT):
            return self.change - self.flow_effect


@dataclass(frozen=True, slots=True)
class Outcome(Figures):
    """The figures with their series, boundary by boundary."""

    values: list[Decimal]  # at each boundary from the start
    inflows: dict[int, Decimal]  # by bucket (the index of its end boundary), where not 0
    outflows: dict[int, Decimal]  # (positive amounts)
    returns: list[Decimal]  # the cumulative time-weighted return at each boundary

    def figures(self) -> Figures:
        return Figures(
            self.start_value, self.end_value, self.inflow, self.outflow,
            self.time_weighted_return, self.max_drawdown, self.peak, self.trough,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Performance:
    boundaries: list[datetime]  # from the effective start to the window's last boundary
    total: Outcome
    by_chain: dict[Chain, Outcome]
    by_token: dict[TokenKey, Outcome]
    by_wallet: dict[Hashable, Figures]  # (no series: a hundred wallets' would be read for none)
    unpriced: list[TokenKey]  # held in the window, never priced in it: left out

    @property
    def start(self) -> datetime:
        return self.boundaries[0]

    @property
    def end(self) -> datetime:
        return self.boundaries[-1]


def boundary_of(moment: datetime, window: Window) -> int:
    """The index of the first boundary at or after ``moment`` (a change shows there)."""
    return (bucket_holding(moment, window.step) - window.start) // window.step + 1


def prices_at_boundaries(
    window: Window, start: Decimal | None, seen: Iterable[tuple[datetime, Decimal]]
) -> list[Decimal | None]:
    """A token's price at each boundary: its last price at or before it. ``start``: the last
    at or before the window's start; ``seen``: the prices after it, in time order."""
    prices: list[Decimal | None] = [None] * (window.count + 1)
    prices[0] = start
    for at, usd in seen:
        if at > window.start:
            index = boundary_of(at, window)
            if index <= window.count:
                prices[index] = usd
    for index in range(1, len(prices)):  # carried forward
        if prices[index] is None:
            prices[index] = prices[index - 1]
    return prices


def by_boundary(window: Window, moves: Iterable[Moved]) -> dict[Position, dict[int, Decimal]]:
    """Each position's net change by the boundary where it shows (1 to the window's count;
    moves after the window's last boundary are left out)."""
    changes: dict[Position, dict[int, Decimal]] = {}
    with localcontext(VALUE_CONTEXT):
        for move in moves:
            index = boundary_of(move.at, window)
            if 0 < index <= window.count:
                at = changes.setdefault(move.position, {})
                at[index] = at.get(index, ZERO) + move.delta
    return changes


def performance(
    window: Window,
    held: Mapping[Position, Decimal],
    changes: Mapping[Position, Mapping[int, Decimal]],
    prices: Mapping[TokenKey, Sequence[Decimal | None]],
    first_record: datetime | None,
) -> Performance:
    """The performance over the window of the positions ``held`` at its start (their last
    records at or before it) and their ``changes`` after it by boundary (``by_boundary``),
    with each token's price at every boundary (``prices_at_boundaries``). ``first_record``:
    the time of the first record of any of the positions."""
    first = _first_boundary(window, first_record)
    size = window.count + 1 - first
    start = dict(held)
    after: dict[Position, dict[int, Decimal]] = {}
    with localcontext(VALUE_CONTEXT):
        for position, at in changes.items():
            for index, delta in at.items():
                if index <= first:  # part of the start
                    start[position] = start.get(position, ZERO) + delta
                else:
                    after.setdefault(position, {})[index - first] = delta
    tokens: dict[TokenKey, list[Position]] = {}
    for position in sorted({*start, *after}, key=_order):
        tokens.setdefault(position.token_key, []).append(position)
    priced = {token: _priced(prices.get(token), first, size) for token in tokens}
    unpriced = sorted(token for token, (_, since) in priced.items() if since is None)
    held_then = {p.token_key for p in after} | {p.token_key for p, a in start.items() if a}
    shown_unpriced = [token for token in unpriced if token in held_then]
    by_token: dict[TokenKey, Outcome] = {}
    wallets: dict[Hashable, list[_Line]] = {}
    for token in sorted(set(tokens) - set(unpriced)):
        prices_then, since = priced[token]
        for position in tokens[token]:
            line = _Line.of(start.get(position, ZERO), after.get(position, {}), prices_then, since)
            wallets.setdefault(position.wallet, []).append(line)
        amount, net = _netted(tokens[token], start, after)
        by_token[token] = _Line.of(amount, net, prices_then, since).outcome()
    by_wallet = {
        wallet: _Line.merged(lines, size).outcome().figures()
        for wallet, lines in sorted(wallets.items(), key=lambda item: str(item[0]))
    }
    return _assembled(window, first, by_token, by_wallet, shown_unpriced)


# What a track says of its group at a boundary, as bits: (a token's) a change in the bucket
# ending there, some position holding a nonzero amount, the token priced; something recorded by
# then (for a wallet: a position of a token priced by then); (a wallet's index) the bucket
# ending there took the time-weighted index to 0 (its end value less its flows was 0: kept
# apart, since a window starting after it chains from 1 again).
TOUCHED, HOLDING, PRICED, RECORDED, ZEROED = 1, 2, 4, 8, 16


@dataclass(slots=True)
class Track:
    """A token's or a wallet's line over consecutive boundaries, kept so that the performance
    of any window on them is computed from these alone (``from_tracks``): the value at each
    boundary, the flows by bucket (the index of its end) and the flags at each boundary. A
    track is the window-independent form of a line: computed as if everything recorded began
    inside it (every first record and first price is a flow), which a window starting later
    leaves out with the buckets before it."""

    values: list[Decimal]
    inflow: dict[int, Decimal]
    outflow: dict[int, Decimal]
    flags: list[int]
    # What this was joined from (``joined``), and (on that) each window start's outcome up to
    # its end as far as computed: a window over both carries it on (``outcome``).
    prefix: Track | None = field(default=None, compare=False, repr=False)
    progress: dict[int, _Progress] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def empty(cls, size: int) -> Track:
        return cls([ZERO] * size, {}, {}, [0] * size)

    def outcome(self, first: int, last: int) -> Outcome:
        """Over boundaries ``first`` to ``last``: the line's outcome, carried on from what it is
        over the part this was joined from where the window goes past it."""
        prefix = self.prefix
        known = -1 if prefix is None else len(prefix.values) - 1
        if prefix is None or not first < known < last:
            return _Line.back_track(self.sliced(first, last)).outcome()
        progress = prefix.progress.get(first)
        if progress is None:
            line = _Line.back_track(prefix.sliced(first, known))
            progress = prefix.progress[first] = _Progress.of(line)
        return progress.extended(_Line.back_track(self.sliced(known, last))).outcome()

    def joined(self, later: Track) -> Track:
        """This track followed by ``later``, whose first boundary is this one's last."""
        shift = len(self.values) - 1
        return Track(
            self.values + later.values[1:],
            self.inflow | {index + shift: flow for index, flow in later.inflow.items() if index},
            self.outflow | {index + shift: flow for index, flow in later.outflow.items() if index},
            self.flags + later.flags[1:],
            prefix=self,
        )

    def sliced(self, first: int, last: int) -> Track:
        """Boundaries ``first`` to ``last`` (the flows of the buckets after ``first``)."""
        if (
            first == 0
            and last == len(self.values) - 1
            and not {0} & (self.inflow.keys() | self.outflow.keys())
        ):
            return self
        return Track(
            self.values[first : last + 1],
            {k - first: flow for k, flow in self.inflow.items() if first < k <= last},
            {k - first: flow for k, flow in self.outflow.items() if first < k <= last},
            self.flags[first : last + 1],
        )

    def scaled(self, rates: Sequence[Decimal | None]) -> Track:
        """Values and flows at each boundary's rate (a missing rate: 0; a window needing one
        is refused before)."""
        factors = [ZERO if rate is None else rate for rate in rates]
        with localcontext(VALUE_CONTEXT):
            return Track(
                list(map(mul, self.values, factors)),
                {k: flow * factors[k] for k, flow in self.inflow.items()},
                {k: flow * factors[k] for k, flow in self.outflow.items()},
                self.flags,
            )


def tracks(
    window: Window,
    held: Mapping[Position, Decimal],
    changes: Mapping[Position, Mapping[int, Decimal]],
    prices: Mapping[TokenKey, Sequence[Decimal | None]],
) -> tuple[dict[TokenKey, Track], dict[Hashable, Track]]:
    """Each token's and each wallet's track over the window from the positions ``held`` at its
    start and their ``changes`` by boundary, at each token's ``prices``: the lines of
    ``performance`` with the window's start as the effective one, and their flags. (A request
    computes the buckets after the kept tracks' cursor with it, over every position: each is
    looked up once, and its line added to its wallet's as it is made.)"""
    size = window.count + 1
    by_token, named = _positions_by_token(held, changes)
    tokens: dict[TokenKey, Track] = {}
    sums: dict[str, _Line] = {}  # each wallet's lines added up
    present: dict[str, int] = {}  # each wallet's first boundary with a priced position
    with localcontext(VALUE_CONTEXT):
        for key, positions in sorted(by_token.items()):
            tokens[key] = _token_track(positions, prices.get(key), size, sums, present)
    wallets: dict[Hashable, Track] = {}
    for name, merged in sorted(sums.items()):
        flags = [0] * present[name] + [RECORDED] * (size - present[name])
        wallets[named[name]] = Track(merged.values, merged.inflow, merged.outflow, flags)
    return tokens, wallets


# A position as ``tracks`` reads it: its wallet's text, its amount at the start (None: no
# record by then) and its changes.
_Entry = tuple[str, Decimal | None, Mapping[int, Decimal]]


def _positions_by_token(
    held: Mapping[Position, Decimal], changes: Mapping[Position, Mapping[int, Decimal]]
) -> tuple[dict[TokenKey, list[_Entry]], dict[str, Hashable]]:
    """Every position by token, in its wallet's order, and the wallets by their text (their
    order, as everywhere; and a key hashed at C speed, where a UUID's hash is Python's)."""
    entries: dict[Position, list[Any]] = {p: [amount, None] for p, amount in held.items()}
    for position, at in changes.items():
        entry = entries.get(position)
        if entry is None:
            entries[position] = [None, at]
        else:
            entry[1] = at
    names: dict[Hashable, str] = {}
    named: dict[str, Hashable] = {}
    by_token: dict[TokenKey, list[_Entry]] = {}
    for (wallet, chain, token), (amount, at) in entries.items():
        name = names.get(wallet)
        if name is None:
            name = names[wallet] = str(wallet)
            named[name] = wallet
        by_token.setdefault((chain, token), []).append((name, amount, at or {}))
    for positions in by_token.values():
        positions.sort(key=itemgetter(0))
    return by_token, named


def _token_track(
    positions: list[_Entry],
    listed: Sequence[Decimal | None] | None,
    size: int,
    sums: dict[str, _Line],
    present: dict[str, int],
) -> Track:
    """A token's track from its positions at its prices (``listed``), each position's line
    added to its wallet's in ``sums`` and the wallet's first boundary with a priced position
    kept in ``present`` (in the caller's context: VALUE_CONTEXT)."""
    priced = [0 if listed is None or p is None else PRICED for p in listed or [None]]
    priced += [priced[-1]] * (size - len(priced))
    prices_then, since = _priced(listed, 0, size)
    touched = [0] * size
    holding = [0] * size
    first_recorded = size  # (prices are carried forward: priced from ``since`` on)
    total, net = ZERO, dict[int, Decimal]()  # the token's, netted over its positions
    for wallet, start, at in positions:
        amount, recorded = (ZERO, min(at, default=size)) if start is None else (start, 0)
        total += amount
        for index, delta in at.items():
            touched[index] = TOUCHED
            net[index] = net.get(index, ZERO) + delta
        first_recorded = min(first_recorded, recorded)
        _mark_holding(holding, amount, at)
        if since is None:
            continue
        present[wallet] = min(present.get(wallet, size), max(recorded, since))
        if not at and since == 0:  # the most over kept tracks: valued, nothing else
            line = _Line(list(_valued(amount, prices_then)), {}, {})
        elif since == 0 and len(at) == 1:  # the most after their cursor: one change, priced
            ((index, delta),) = at.items()
            values = [
                *_valued(amount, prices_then[:index]),
                *_valued(amount + delta, prices_then[index:]),
            ]
            flow = delta * prices_then[index]  # (as _Line.of sums it, from 0)
            inflow = {index: ZERO + flow} if flow > 0 else {}
            line = _Line(values, inflow, {index: ZERO - flow} if flow < 0 else {})
        else:
            line = _Line.of(amount, at, prices_then, since)
        kept = sums.get(wallet)
        if kept is None:
            sums[wallet] = kept = _Line([ZERO] * size, {}, {})
        kept.add(line)
    line = _Line.of(total, {k: delta for k, delta in net.items() if delta}, prices_then, since)
    recorded_flags = [0] * first_recorded + [RECORDED] * (size - first_recorded)
    flags = list(map(sum, zip(touched, holding, priced, recorded_flags, strict=True)))
    return Track(line.values, line.inflow, line.outflow, flags)


def _mark_holding(holding: list[int], start: Decimal, changes: Mapping[int, Decimal]) -> None:
    """Flag the boundaries at which a position holds a nonzero amount (in the caller's
    context: VALUE_CONTEXT)."""
    amount, last = start, 0
    for index in sorted(changes):
        if amount:
            holding[last:index] = [HOLDING] * (index - last)
        amount, last = amount + changes[index], index
    if amount:
        holding[last:] = [HOLDING] * (len(holding) - last)


# Indexed.found: where the index went to 0, its levels, where its deepest fall is, and whether
# every level is finite (else the fall is measured exactly).
Found = tuple[int, list[float], tuple[int, int] | None, bool]


@dataclass(slots=True)
class Indexed:
    """A wallet's track as kept for reading its figures over any window in one pass: at each
    boundary its value and its inflows and outflows summed since the track began (as text,
    read only where a window needs them), its time-weighted index (on its own scale, with the
    buckets that took it to 0 flagged ZEROED and left out of it; text too: a window reads two
    of them exactly and locates the drawdown on all of them as floats) and its flags."""

    values: list[str]
    inflows: list[str]
    outflows: list[str]
    index: list[str]
    levels: MutableSequence[float]  # the index as floats (where the drawdown is located)
    flags: list[int]
    # By window (first, last): its end at 0 (``_levels``), its levels and where its drawdown
    # is (``_spotted``), found once for ``wanted`` and ``figures``.
    found: dict[tuple[int, int], Found] = field(default_factory=dict, compare=False, repr=False)
    # What this was joined from (``joined``): a window over both finds its drawdown from where
    # that one found it, and the exact cells read here of its boundaries are placed there too.
    prefix: Indexed | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, track: Track, index: Decimal = ONE, inflow: Decimal = ZERO,
           outflow: Decimal = ZERO) -> Indexed:  # fmt: skip
        """A track indexed from ``index`` and flows summed from ``inflow`` and ``outflow`` at
        its first boundary."""
        size = len(track.values)
        with localcontext(VALUE_CONTEXT):
            # (Summed here, in this context: an accumulate read later would sum in another.)
            ins = list(
                accumulate((track.inflow.get(k, ZERO) for k in range(1, size)), initial=inflow)
            )
            outs = list(
                accumulate((track.outflow.get(k, ZERO) for k in range(1, size)), initial=outflow)
            )
            net = dict(track.inflow)
            for k, flow in track.outflow.items():
                net[k] = net.get(k, ZERO) - flow
            ends = [value - net.get(k, ZERO) for k, value in enumerate(track.values)]
        levels, flags = [index], list(track.flags)
        with localcontext(RATIO_CONTEXT):
            for k in range(1, size):
                before = track.values[k - 1]
                if not before:  # a bucket starting at 0 leaves the index as it was
                    levels.append(levels[-1])
                elif not ends[k]:
                    levels.append(levels[-1])
                    flags[k] |= ZEROED
                else:
                    levels.append(levels[-1] * ends[k] / before)
        return cls(list(map(str, track.values)), list(map(str, ins)), list(map(str, outs)),
                   list(map(str, levels)), list(map(float, levels)), flags)  # fmt: skip

    @classmethod
    def unread(cls, size: int) -> Indexed:
        """``size`` boundaries at 1 with nothing flagged and their exact cells unread (""); the
        levels as an array of doubles (a reader holds what it read: a quarter of a list's
        size)."""
        levels = array("d", [1.0]) * size
        return cls([""] * size, [""] * size, [""] * size, [""] * size, levels, [0] * size)

    def place(
        self, k: int, value: str | None, inflow: str | None, outflow: str | None,
        index: str | None,
    ) -> None:  # fmt: skip
        """The exact cells at boundary ``k`` as read, unless they were before (an empty or
        missing one: nothing was kept there: 0, and an index of 1); in what this was joined
        from too, where it has the boundary."""
        if not self.index[k]:
            self.values[k] = value or "0"
            self.inflows[k] = inflow or "0"
            self.outflows[k] = outflow or "0"
            self.index[k] = index or "1"
        if self.prefix is not None and k < len(self.prefix.index):
            self.prefix.place(k, value, inflow, outflow, index)

    def joined(self, later: Track) -> Indexed:
        """Followed by ``later``, whose first boundary is this one's last."""
        rest = Indexed.of(
            later,
            Decimal(self.index[-1]),
            Decimal(self.inflows[-1]),
            Decimal(self.outflows[-1]),
        )
        return Indexed(
            self.values + rest.values[1:],
            self.inflows + rest.inflows[1:],
            self.outflows + rest.outflows[1:],
            self.index + rest.index[1:],
            [*self.levels, *rest.levels[1:]],
            self.flags + rest.flags[1:],
            prefix=self,
        )

    def sliced(self, first: int, last: int) -> Indexed:
        """Boundaries ``first`` to ``last``."""
        picked = slice(first, last + 1)
        return Indexed(
            self.values[picked], self.inflows[picked], self.outflows[picked],
            self.index[picked], self.levels[picked], self.flags[picked],
        )  # fmt: skip

    def wanted(self, first: int, last: int) -> set[int]:
        """The boundaries whose exact cells ``figures(first, last)`` reads: the window's ends
        and the peak and trough of its drawdown (every one when that is located exactly)."""
        _, _, spot, finite = self._found(first, last)
        if not finite:
            return set(range(first, last + 1))
        return {first, last} | ({first + spot[0], first + spot[1]} if spot else set())

    def _found(self, first: int, last: int) -> Found:
        found = self.found.get((first, last))
        if found is None:
            prefix = self.prefix
            known = -1 if prefix is None else len(prefix.levels) - 1
            if prefix is not None and first < known < last:
                found = self._extended(first, last, known, prefix._found(first, known))
            else:
                zeroed, levels = self._levels(first, last)
                finite = all(map(isfinite, levels))
                found = (zeroed, levels, _spotted(levels) if finite else None, finite)
            self.found[(first, last)] = found
        return found

    def _extended(self, first: int, last: int, known: int, before: Found) -> Found:
        """``_found`` over boundaries ``first`` to ``last`` from what it is to ``known``
        (``before``: of the prefix, held by a reader over many requests), the boundaries after
        it alone looked at: the same as over all of them."""
        zeroed, levels, spot, finite = before
        if not finite:  # (measured exactly: every boundary, as over them all)
            zeroed, levels = self._levels(first, last)
            finite = all(map(isfinite, levels))
            return zeroed, levels, _spotted(levels) if finite else None, finite
        later = last - known
        if zeroed <= known - first:  # at 0 from a bucket before on
            tail = [0.0] * later
        else:
            base = self.levels[first]
            tail = list(map(truediv, self.levels[known + 1 : last + 1], repeat(base)))
            flags = self.flags[known + 1 : last + 1]
            if any(map(ZEROED.__and__, flags)):
                at = next(k for k, flag in enumerate(flags) if flag & ZEROED)
                zeroed = known + 1 + at - first
                tail[at:] = [0.0] * (later - at)
            else:
                zeroed = last - first + 1
        if not all(map(isfinite, tail)):
            zeroed, levels = self._levels(first, last)
            return zeroed, levels, None, False
        return zeroed, levels + tail, _spotted_after(levels, tail, spot), True

    def _levels(self, first: int, last: int) -> tuple[int, list[float]]:
        """Over boundaries ``first`` to ``last``: the first bucket that took the index to 0
        (the size when none did), and the index from 1 as floats (0 from that bucket on)."""
        size = last - first + 1
        zeroed = size  # from a bucket that took it to 0 on, the window's index is 0
        if any(map(ZEROED.__and__, self.flags[first + 1 : last + 1])):
            zeroed = next(k for k in range(1, size) if self.flags[first + k] & ZEROED)
        raw = self.levels[first : first + zeroed]
        if raw[0] and isfinite(raw[0]):
            return zeroed, list(map(truediv, raw, repeat(raw[0]))) + [0.0] * (size - zeroed)
        return zeroed, [inf] * size  # past a float's range: located exactly

    def figures(self, first: int, last: int) -> Figures:
        """Over boundaries ``first`` to ``last``: the same figures as the line's outcome."""
        zeroed, levels, spot, finite = self._found(first, last)
        base = Decimal(self.index[first])

        def exact(k: int) -> Decimal:
            if k >= zeroed:
                return ZERO
            with localcontext(RATIO_CONTEXT):
                return INDEX_CONTEXT.plus(Decimal(self.index[first + k]) / base)

        drawdown, peak, trough = _measured(levels, exact, spot, finite)
        with localcontext(VALUE_CONTEXT):
            inflow = Decimal(self.inflows[last]) - Decimal(self.inflows[first])
            outflow = Decimal(self.outflows[last]) - Decimal(self.outflows[first])
        with localcontext(RATIO_CONTEXT):
            twr = exact(last - first) - ONE
        return Figures(
            Decimal(self.values[first]), Decimal(self.values[last]), inflow, outflow, twr,
            drawdown, peak, trough,
        )  # fmt: skip


def from_tracks(
    window: Window,
    tokens: Mapping[TokenKey, Track],
    wallets: Mapping[Hashable, Track | Indexed],
    held: dict[Hashable, _Progress] | None = None,
) -> Performance:
    """The performance over the window from its groups' tracks (each over the window's
    boundaries): the same as ``performance`` of what they were computed from. ``held``: where
    the chains' and the total's outcomes over the part the tokens' tracks were joined from are
    held (by a reader, over many requests), to be carried on from."""
    last = window.count
    first = first_tracked(tokens, last)
    unpriced = sorted(
        token
        for token, track in tokens.items()
        if not track.flags[last] & PRICED
        and (
            track.flags[first] & HOLDING
            or any(flags & TOUCHED for flags in track.flags[first + 1 : last + 1])
        )
    )
    by_token = {
        token: track.outcome(first, last)
        for token, track in sorted(tokens.items())
        if track.flags[last] & PRICED and track.flags[last] & RECORDED
    }
    by_wallet = {
        wallet: track.figures(first, last)
        if isinstance(track, Indexed)
        else track.outcome(first, last).figures()
        for wallet, track in sorted(wallets.items(), key=lambda item: str(item[0]))
        if track.flags[last] & RECORDED
    }
    carried = None if held is None else _Carried.of(tokens, by_token, first, last, held)
    return _assembled(window, first, by_token, by_wallet, unpriced, carried)


@dataclass(slots=True)
class _Carried:
    """The tokens' lines up to ``known`` (from the window's effective start), where each
    token's outcome was carried on from (``Track.outcome``), and the groups' outcomes up to
    there held by their members (``held``): a chain's or the total's carried on likewise."""

    first: int
    known: int
    lines: dict[Hashable, _Line]  # each member's line up to ``known``
    held: dict[Hashable, _Progress]

    @classmethod
    def of(
        cls, tokens: Mapping[TokenKey, Track], outcomes: Mapping[TokenKey, Outcome], first: int,
        last: int, held: dict[Hashable, _Progress],
    ) -> _Carried | None:  # fmt: skip
        """Where every token's outcome was carried on from one boundary, else None."""
        prefixes = [tokens[token].prefix for token in outcomes]
        knowns = {None if p is None else len(p.values) - 1 for p in prefixes}
        known = knowns.pop() if len(knowns) == 1 else None
        if known is None or not first < known < last:
            return None
        lines: dict[Hashable, _Line] = {}
        for token, prefix in zip(outcomes, prefixes, strict=True):
            progress = None if prefix is None else prefix.progress.get(first)
            if progress is None:
                return None
            lines[token] = progress.line
        return cls(first, known - first, lines, held)

    def outcome(self, name: Hashable, members: Mapping[_K, Outcome]) -> Outcome:
        """The outcome of the group ``name`` of ``members`` (their lines added), carried on
        from what is held of it up to ``known``, which is then the line of a member ``name``."""
        size = len(next(iter(members.values())).values)
        held = (self.first, name, tuple(members))
        progress = self.held.get(held)
        if progress is None:
            lines = [self.lines[member] for member in members]
            progress = self.held[held] = _Progress.of(_Line.merged(lines, self.known + 1))
        self.lines[name] = progress.line
        j = self.known
        later = _Line.merged(
            (
                _Line(o.values[j:], {k - j: f for k, f in o.inflows.items() if k > j},
                      {k - j: f for k, f in o.outflows.items() if k > j})
                for o in members.values()
            ),
            size - j,
        )  # fmt: skip
        return progress.extended(later).outcome()


def first_tracked(tokens: Mapping[TokenKey, Track], last: int) -> int:
    """The effective start: the first boundary by which something was recorded (the last when
    nothing was)."""
    return min(
        (next((k for k, f in enumerate(t.flags) if f & RECORDED), last) for t in tokens.values()),
        default=last,
    )


def _assembled(
    window: Window,
    first: int,
    by_token: dict[TokenKey, Outcome],
    by_wallet: dict[Hashable, Figures],
    unpriced: list[TokenKey],
    carried: _Carried | None = None,
) -> Performance:
    """With the chains' and the total's outcomes, from the tokens' (``carried`` on from what
    is held of them, where the tokens' were)."""
    size = window.count + 1 - first
    by_chain: dict[Chain, Outcome] = {}
    for chain in sorted({chain for chain, _ in by_token}):
        members = {token: outcome for token, outcome in by_token.items() if token[0] == chain}
        if carried is None:
            by_chain[chain] = _Line.merged(map(_Line.back, members.values()), size).outcome()
        else:
            by_chain[chain] = carried.outcome(chain, members)
    if carried is None or not by_chain:
        total = _Line.merged(map(_Line.back, by_chain.values()), size).outcome()
    else:
        total = carried.outcome(None, by_chain)
    boundaries = [window.start + k * window.step for k in range(first, window.count + 1)]
    return Performance(boundaries, total, by_chain, by_token, by_wallet, unpriced)


def _first_boundary(window: Window, first_record: datetime | None) -> int:
    """Where the window effectively starts: at its start, or (nothing recorded by then) at the
    boundary where the first record shows (the last one when there is none in the window)."""
    if first_record is None:
        return window.count
    if first_record <= window.start:
        return 0
    return min(boundary_of(first_record, window), window.count)


def _order(position: Position) -> tuple[str, str, str]:
    return (str(position.wallet), position.chain.value, position.token)


def _netted(
    positions: Iterable[Position],
    start: Mapping[Position, Decimal],
    after: Mapping[Position, Mapping[int, Decimal]],
) -> tuple[Decimal, dict[int, Decimal]]:
    """A token over its positions: the amount at the start, and the changes netted by bucket
    over them (a transfer between two of them is none)."""
    amount, net = ZERO, dict[int, Decimal]()
    with localcontext(VALUE_CONTEXT):
        for position in positions:
            amount += start.get(position, ZERO)
            for index, delta in after.get(position, {}).items():
                net[index] = net.get(index, ZERO) + delta
    return amount, {index: delta for index, delta in net.items() if delta}


@dataclass(slots=True)
class _Line:
    """A group's value at each boundary and its flows by bucket (positive amounts)."""

    values: list[Decimal]
    inflow: dict[int, Decimal]
    outflow: dict[int, Decimal]

    @classmethod
    def of(
        cls, start: Decimal, changes: Mapping[int, Decimal], prices: list[Decimal],
        since: int | None,
    ) -> _Line:  # fmt: skip
        """One position or token: ``start`` tokens, then ``changes`` by boundary, at
        ``prices`` (0 before ``since``, the first priced boundary)."""
        inflow: dict[int, Decimal] = {}
        outflow: dict[int, Decimal] = {}
        with localcontext(VALUE_CONTEXT):
            # The amount is constant between changes: valued a run at a time.
            values: list[Decimal] = []
            amount, last, held = start, 0, start
            for index in sorted(changes):
                values += _valued(amount, prices[last:index])
                if since is not None and index < since:
                    held = amount + changes[index]  # (what is held when first priced)
                amount, last = amount + changes[index], index
            values += _valued(amount, prices[last:])
            if since is None:  # never priced: no value, no flow
                return cls(values, inflow, outflow)
            # First priced inside the window: what is held then comes in.
            for index, delta in ((since, held if since else ZERO), *changes.items()):
                if index < since:
                    continue
                flow = delta * prices[index]
                if flow > 0:
                    inflow[index] = inflow.get(index, ZERO) + flow
                elif flow < 0:
                    outflow[index] = outflow.get(index, ZERO) - flow
        return cls(values, inflow, outflow)

    @classmethod
    def merged(cls, lines: Iterable[_Line], size: int) -> _Line:
        """Lines added: values and flows (an inflow of one is no outflow of another)."""
        merged = cls([ZERO] * size, {}, {})
        with localcontext(VALUE_CONTEXT):
            for line in lines:
                merged.add(line)
        return merged

    def add(self, line: _Line) -> None:
        """``line`` added to this one (in the caller's context: VALUE_CONTEXT)."""
        self.values = list(map(add, self.values, line.values))
        inflow, outflow = self.inflow, self.outflow
        for index, flow in line.inflow.items():
            inflow[index] = inflow.get(index, ZERO) + flow
        for index, flow in line.outflow.items():
            outflow[index] = outflow.get(index, ZERO) + flow

    @classmethod
    def back(cls, outcome: Outcome) -> _Line:
        return cls(outcome.values, outcome.inflows, outcome.outflows)

    @classmethod
    def back_track(cls, track: Track) -> _Line:
        return cls(track.values, track.inflow, track.outflow)

    def outcome(self) -> Outcome:
        return _Progress.of(self).outcome()

    def net(self, after: int = 0) -> dict[int, Decimal]:
        """The net flow of each bucket with flows, after boundary ``after``."""
        with localcontext(VALUE_CONTEXT):
            net = {index: flow for index, flow in self.inflow.items() if index > after}
            for index, flow in self.outflow.items():
                if index > after:
                    net[index] = net.get(index, ZERO) - flow
        return net


@dataclass(slots=True)
class _Progress:
    """A line's outcome as far as computed, to be carried on over more boundaries
    (``extended``) with the same result as computed over them all at once: a line over a
    window that goes past the kept tracks is computed from where its kept part got to (held
    by the reader), the boundaries after alone looked at."""

    line: _Line
    chain: _Chain
    chained: list[Decimal]  # the index at each boundary (INDEX_CONTEXT)
    levels: list[float]  # and as floats, where its drawdown is located
    spot: tuple[int, int] | None
    finite: bool
    inflow: Decimal  # the flows summed, in boundary order
    outflow: Decimal

    @classmethod
    def of(cls, line: _Line) -> _Progress:
        chain, index = _Chain(ONE, None).extended(line.values, line.net(), 1)
        chained = list(map(INDEX_CONTEXT.plus, [ONE, *index]))
        levels = list(map(float, chained))
        finite = all(map(isfinite, levels))
        return cls(
            line, chain, chained, levels, _spotted(levels) if finite else None, finite,
            _summed(line.inflow), _summed(line.outflow),
        )  # fmt: skip

    def extended(self, later: _Line) -> _Progress:
        """Followed by ``later``, whose first boundary is this one's last (this one kept as
        it is: it is shared)."""
        known = len(self.line.values) - 1
        line = _Line(
            self.line.values + later.values[1:],
            self.line.inflow | {k + known: flow for k, flow in later.inflow.items() if k},
            self.line.outflow | {k + known: flow for k, flow in later.outflow.items() if k},
        )
        chain, index = self.chain.extended(line.values, line.net(known), known + 1)
        chained = self.chained + list(map(INDEX_CONTEXT.plus, index))
        tail = list(map(float, chained[known + 1 :]))
        finite = self.finite and all(map(isfinite, tail))
        spot = _spotted_after(self.levels, tail, self.spot) if finite else None
        with localcontext(VALUE_CONTEXT):
            inflow = self.inflow + _summed({k: f for k, f in later.inflow.items() if k})
            outflow = self.outflow + _summed({k: f for k, f in later.outflow.items() if k})
        return _Progress(line, chain, chained, self.levels + tail, spot, finite, inflow, outflow)

    def outcome(self) -> Outcome:
        values, chained = self.line.values, self.chained
        drawdown, peak, trough = _measured(self.levels, chained.__getitem__, self.spot, self.finite)
        with localcontext(RATIO_CONTEXT):
            returns = list(map(sub, chained, repeat(ONE)))
        return Outcome(
            values[0], values[-1], self.inflow, self.outflow, returns[-1], drawdown, peak,
            trough, values, self.line.inflow, self.line.outflow, returns,
        )  # fmt: skip


def _summed(flows: Mapping[int, Decimal]) -> Decimal:
    """Flows summed in boundary order (the order a line carried on over more sums them in)."""
    with localcontext(VALUE_CONTEXT):
        return sum(map(flows.__getitem__, sorted(flows)), ZERO)


@dataclass(frozen=True, slots=True)
class _Chain:
    """The time-weighted index along a line (1 at its start), as far as computed: each
    bucket's end value less its net flow over its start value, chained; a bucket starting at 0
    leaves it as it was. Between flows and zeros the chain telescopes (the index is a constant,
    ``scale``, times the value), so those runs are computed a list at a time; carried on over
    more boundaries (``extended``), it is what it is over them all at once."""

    last: Decimal  # at the last boundary computed, unrounded (RATIO_CONTEXT)
    scale: Decimal | None  # the run's, when the last bucket was in one

    def extended(
        self, values: Sequence[Decimal], net: Mapping[int, Decimal], start: int
    ) -> tuple[_Chain, list[Decimal]]:
        """Carried on to the end of ``values`` (the line's, from its first; ``net``: the net
        flows of the buckets from ``start`` on): where it then is, and the index at boundaries
        ``start`` on (unrounded)."""
        size = len(values)
        index = [self.last]  # from boundary start - 1
        zeros = (k + 1 for k in range(start - 1, size - 1) if not values[k])
        stops = sorted({*(k for k in net if k >= start), *zeros, size})
        scale = self.scale
        with localcontext(RATIO_CONTEXT):
            k = start
            for stop in stops:
                if k < stop:  # buckets k..stop-1: no flow, no zero start
                    if scale is None:
                        scale = index[-1] / values[k - 1]
                    index += map(mul, repeat(scale), values[k:stop])
                    k = stop
                if k == stop < size:  # a flow, or a start at 0
                    before, kept = values[k - 1], index[-1]
                    index.append(kept * (values[k] - net.get(k, ZERO)) / before if before else kept)
                    scale = None
                    k += 1
        return _Chain(index[-1], scale), index[1:]


def _valued(amount: Decimal, prices: list[Decimal]) -> Iterable[Decimal]:
    """``amount`` at each of ``prices`` (nothing held is worth 0, without a product)."""
    return repeat(ZERO, len(prices)) if not amount else map(mul, repeat(amount), prices)


def _measured(
    levels: list[float],
    exact: Callable[[int], Decimal],
    spot: tuple[int, int] | None,
    finite: bool,
) -> tuple[Decimal, int | None, int | None]:
    """The deepest fall of an index given as floats at each boundary (its exact value at a
    boundary by ``exact``): where it was found in double precision (``spot``, by
    ``_spotted``), how deep exactly; every ratio exactly where a level is past a float's range
    (``finite`` false)."""
    if not finite:  # past a float's range: every ratio exactly
        return _drawdown_exactly(list(map(exact, range(len(levels)))))
    if spot is None:
        return ZERO, None, None
    peak, trough = spot
    with localcontext(RATIO_CONTEXT):
        return exact(trough) / exact(peak) - ONE, peak, trough


def _spotted(levels: list[float]) -> tuple[int, int] | None:
    """The peak and the trough of an index's deepest fall, found on floats (a ratio of two
    40-digit decimals costs a hundred times a float's, and a year of a hundred wallets is
    36,500 of them; a fall of less than a part in 10^15 is none); None when it never falls."""
    peaks = list(accumulate(levels, max))  # from 1 up: never 0
    falls = list(map(truediv, levels, peaks))
    deepest = min(falls)
    if deepest >= 1.0:
        return None
    trough = falls.index(deepest)
    return levels.index(peaks[trough]), trough


def _spotted_after(
    levels: list[float], later: list[float], spot: tuple[int, int] | None
) -> tuple[int, int] | None:
    """``_spotted`` of ``levels`` followed by ``later``, from ``spot``, that of ``levels``
    (nonempty): the same peak and trough, ``later`` alone looked at."""
    peak = max(levels)
    peak_at = levels.index(peak)  # (the first at the highest: as in _spotted)
    deepest = levels[spot[1]] / levels[spot[0]] if spot else 1.0
    for k, level in enumerate(later, len(levels)):
        if level > peak:
            peak, peak_at = level, k
        elif level / peak < deepest:  # (the first of the deepest: as in _spotted)
            deepest, spot = level / peak, (peak_at, k)
    return spot


def _drawdown_exactly(chained: list[Decimal]) -> tuple[Decimal, int | None, int | None]:
    with localcontext(RATIO_CONTEXT):
        peaks = list(accumulate(chained, max))  # from 1 up: never 0
        falls = list(map(truediv, chained, peaks))
        deepest = min(falls)
        if deepest >= ONE:
            return ZERO, None, None
        trough = falls.index(deepest)
        return deepest - ONE, chained.index(peaks[trough]), trough


def _priced(
    prices: Sequence[Decimal | None] | None, first: int, size: int
) -> tuple[list[Decimal], int | None]:
    """The prices from the effective start (0 where none is known yet) and the index of the
    first known one (None: never priced in the window)."""
    if prices is None:
        return [ZERO] * size, None
    picked = list(prices[first : first + size])
    known = next((i for i, price in enumerate(picked) if price is not None), None)
    return [ZERO if price is None else price for price in picked], known


@dataclass(frozen=True, slots=True)
class WalletSeen:
    chain: Chain
    address: str
    label: str | None


@dataclass(slots=True)
class Recorded:
    """What a performance is computed from, as recorded: the positions at a window's start,
    the changes and prices in it, and what shows their names."""

    window: Window
    held: dict[Position, Decimal]
    changes: dict[Position, dict[int, Decimal]]  # by boundary (by_boundary)
    prices: dict[TokenKey, list[Decimal | None]]  # at each boundary
    first_record: datetime | None
    symbols: dict[TokenKey, str | None]
    wallets: dict[Hashable, WalletSeen]

    def convert(self, currency: str, rates: Sequence[Decimal | None]) -> None:
        """Prices into ``currency``: each at its boundary's rate (units per USD). The
        boundaries from the first record on all need one (RateMissingError)."""
        _refuse_missing(
            self.window, _first_boundary(self.window, self.first_record), currency, rates
        )
        with localcontext(VALUE_CONTEXT):
            for token, prices in self.prices.items():
                self.prices[token] = [
                    None if price is None or rate is None else price * rate
                    for price, rate in zip(prices, rates, strict=True)
                ]

    def performance(self) -> Performance:
        return performance(self.window, self.held, self.changes, self.prices, self.first_record)


def _refuse_missing(
    window: Window, first: int, currency: str, rates: Sequence[Decimal | None]
) -> None:
    """RateMissingError when a boundary from ``first`` on has no rate."""
    missing = [k for k in range(first, len(rates)) if rates[k] is None]
    if missing:
        at = window.start + missing[-1] * window.step
        raise RateMissingError(
            f"No {currency} rate was recorded by {at.isoformat()}: values then cannot be "
            f"shown in {currency}. Choose a start after the first {currency} rate, or "
            "another currency."
        )


@dataclass(slots=True)
class Tracked:
    """What a performance is computed from, as kept: every token's and wallet's track over a
    window's boundaries (``from_tracks``), and what shows their names."""

    window: Window
    tokens: dict[TokenKey, Track]
    tracks: Mapping[Hashable, Track | Indexed]  # by wallet (Track where to be converted)
    symbols: dict[TokenKey, str | None]
    wallets: dict[Hashable, WalletSeen]
    # Where the chains' and the total's outcomes over the tokens' kept part are held (by a
    # reader, while that part is the same), to be carried on from (``from_tracks``).
    held: dict[Hashable, _Progress] | None = field(default=None, compare=False, repr=False)

    def convert(self, currency: str, rates: Sequence[Decimal | None]) -> None:
        """Values and flows into ``currency``, each at its boundary's rate (units per USD):
        the same as pricing in it, since every value and flow is an amount times a price."""
        _refuse_missing(self.window, first_tracked(self.tokens, self.window.count), currency, rates)
        self.tokens = {token: track.scaled(rates) for token, track in self.tokens.items()}
        scaled: dict[Hashable, Track | Indexed] = {}
        for wallet, track in self.tracks.items():
            if isinstance(track, Indexed):  # figures over any window in USD alone
                raise TypeError("an indexed track cannot be converted: read every bucket")
            scaled[wallet] = track.scaled(rates)
        self.tracks = scaled
        self.held = None  # (held in USD)

    def performance(self) -> Performance:
        return from_tracks(self.window, self.tokens, self.tracks, self.held)
