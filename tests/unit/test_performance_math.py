"""Performance over hand-computed windows, and its identities over random ones."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio.domain.chains import Chain
from portfolio.domain.history import Interval, TokenKey, Window
from portfolio.domain.performance import (
    ZERO,
    Figures,
    Indexed,
    Moved,
    Performance,
    Position,
    Track,
    _spotted,
    _spotted_after,
    by_boundary,
    from_tracks,
    prices_at_boundaries,
    tracks,
)
from portfolio.domain.performance import performance as computed

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ETH = (Chain.ETHEREUM, "native")
USDC = (Chain.ETHEREUM, "0xa0b8")
SOL = (Chain.SOLANA, "native")
A = Position("a", Chain.ETHEREUM, "native")
B = Position("b", Chain.ETHEREUM, "native")
Series = dict[tuple[Chain, str], list[Decimal | None]]


def performance(
    win: Window,
    held: dict[Position, Decimal],
    moves: list[Moved],
    prices: Series,
    first_record: datetime | None,
) -> Performance:
    return computed(win, held, by_boundary(win, moves), prices, first_record)


def window(days: int) -> Window:
    return Window.of(T0, T0 + days * DAY, Interval.DAY)


def daily(*prices: str | None) -> list[Decimal | None]:
    return [None if p is None else Decimal(p) for p in prices]


def test_a_window_without_flows_returns_end_over_start() -> None:
    result = performance(
        window(3), {A: Decimal(2)}, [], {ETH: daily("100", "110", "99", "121")}, T0 - DAY
    )
    total = result.total
    assert (total.start_value, total.end_value) == (Decimal(200), Decimal(242))
    assert total.flow_effect == 0
    assert total.market_effect == total.change == Decimal(42)
    assert total.time_weighted_return == Decimal(121) / Decimal(100) - 1
    assert total.max_drawdown == Decimal(99) / Decimal(110) - 1
    assert (total.peak, total.trough) == (1, 2)
    assert result.boundaries == [T0 + k * DAY for k in range(4)]


def test_a_deposit_alone_is_no_market_effect() -> None:
    moves = [Moved(A, T0 + DAY + timedelta(hours=5), Decimal("1.5"))]
    result = performance(
        window(3), {A: Decimal(1)}, moves, {ETH: daily("100", "100", "100", "100")}, T0
    )
    total = result.total
    assert total.market_effect == 0
    assert total.inflow == total.flow_effect == total.change == Decimal(150)
    assert total.outflow == 0
    assert total.time_weighted_return == 0
    assert total.inflows == {2: Decimal(150)}  # the bucket (B1, B2] holds the deposit


def test_flows_move_the_value_but_not_the_return() -> None:
    moves = [Moved(A, T0 + 2 * DAY, Decimal(1))]  # at B2 exactly: counts at B2
    result = performance(
        window(3), {A: Decimal(1)}, moves, {ETH: daily("100", "200", "200", "100")}, T0
    )
    total = result.total
    assert [total.change, total.flow_effect, total.market_effect] == [100, 200, -100]
    assert total.time_weighted_return == 0
    assert total.max_drawdown == Decimal("-0.5")
    assert (total.peak, total.trough) == (1, 3)
    assert total.returns == [0, 1, 1, 0]


def test_a_transfer_between_tracked_wallets_is_no_flow_of_the_portfolio() -> None:
    at = T0 + DAY + timedelta(hours=1)
    moves = [Moved(A, at, Decimal(-1)), Moved(B, at, Decimal(1))]
    result = performance(
        window(2), {A: Decimal(3), B: Decimal(1)}, moves, {ETH: daily("10", "20", "30")}, T0
    )
    assert result.total.inflow == result.total.outflow == 0
    assert result.by_token[ETH].flow_effect == 0
    assert result.by_wallet["a"].outflow == Decimal(30)
    assert result.by_wallet["b"].inflow == Decimal(30)
    # Each wallet's market effect is what it held at each bucket's start times the price
    # move (the transfer is valued at the bucket's end); they add up.
    assert result.by_wallet["a"].market_effect == 3 * 10 + 3 * 10
    assert result.by_wallet["b"].market_effect == 1 * 10 + 1 * 10
    assert result.total.market_effect == 4 * 20
    assert result.total.time_weighted_return == 2  # 10 -> 30


def test_a_token_first_priced_inside_the_window_comes_in_as_a_flow() -> None:
    usdc = Position("a", Chain.ETHEREUM, "0xa0b8")
    result = performance(
        window(3),
        {A: Decimal(1), usdc: Decimal(50)},
        [],
        {ETH: daily("100", "100", "100", "100"), USDC: daily(None, None, "1", "1")},
        T0,
    )
    total = result.total
    assert total.inflows == {2: Decimal(50)}
    assert total.market_effect == 0
    assert total.time_weighted_return == 0


def test_unpriced_tokens_are_left_out_and_listed() -> None:
    sol = Position("s", Chain.SOLANA, "native")
    result = performance(
        window(1), {A: Decimal(1), sol: Decimal(9)}, [], {ETH: daily("5", "6")}, T0
    )
    assert result.unpriced == [SOL]
    gone = Position("a", Chain.ETHEREUM, "0xgone")  # sold before the window, never priced
    later = performance(
        window(1), {A: Decimal(1), gone: Decimal(0)}, [], {ETH: daily("5", "6")}, T0
    )
    assert later.unpriced == []
    assert result.total.end_value == 6
    assert list(result.by_chain) == [Chain.ETHEREUM]
    assert list(result.by_wallet) == ["a"]


def test_a_window_before_the_first_record_starts_there() -> None:
    first = T0 + DAY + timedelta(hours=3)
    moves = [Moved(A, first, Decimal(2)), Moved(A, T0 + 2 * DAY + timedelta(hours=1), Decimal(1))]
    result = performance(window(3), {}, moves, {ETH: daily("1", "2", "3", "4")}, first)
    total = result.total
    assert result.start == T0 + 2 * DAY  # where the first record shows
    assert total.start_value == 6  # the first record is the start, not a flow
    assert total.inflow == 4  # the second one is
    assert total.market_effect == 2 * 1
    assert total.end_value == 12


def test_nothing_recorded_is_all_zero() -> None:
    result = performance(window(3), {}, [], {}, None)
    assert result.total.end_value == result.total.time_weighted_return == 0
    assert result.start == result.end == T0 + 3 * DAY


def test_prices_at_boundaries_are_the_last_at_or_before_each() -> None:
    seen = [(T0 + timedelta(hours=2), Decimal(3)), (T0 + DAY, Decimal(4)),
            (T0 + DAY + timedelta(seconds=1), Decimal(5))]  # fmt: skip
    assert prices_at_boundaries(window(3), Decimal(2), seen) == daily("2", "4", "5", "5")
    assert prices_at_boundaries(window(2), None, []) == [None, None, None]


# Random windows: the identities, and every figure against a plain walk of each bucket.

WALLETS = ["w1", "w2", "w3"]
TOKENS = [ETH, USDC, SOL]
amounts = st.decimals(min_value=0, max_value=1000, places=3)
usd = st.decimals(min_value=0, max_value=500, places=2)
prices = st.one_of(st.none(), usd)
Scenario = tuple[Window, dict[Position, Decimal], list[Moved], Series]


def drawn_moves(draw: st.DrawFn, positions: list[Position], days: int, most: int) -> list[Moved]:
    """Up to ``most`` changes of the positions over ``days``, in time order."""
    moves = []
    for _ in range(draw(st.integers(0, most))):
        position = draw(st.sampled_from(positions))
        at = T0 + timedelta(hours=draw(st.integers(1, 24 * days)))
        delta = draw(st.decimals(min_value=-50, max_value=50, places=3))
        moves.append(Moved(position, at, delta))
    return sorted(moves, key=lambda m: m.at)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    days = draw(st.integers(1, 8))
    win = window(days)
    positions = [Position(w, c, t) for w in WALLETS for c, t in TOKENS]
    held = {p: draw(amounts) for p in draw(st.lists(st.sampled_from(positions), unique=True))}
    moves = drawn_moves(draw, positions, days, 12)
    series: Series = {}
    for token in TOKENS:
        first = draw(prices)
        hours = sorted(draw(st.lists(st.integers(1, 24 * days), max_size=10)))
        seen = [(T0 + timedelta(hours=h), draw(usd)) for h in hours]
        series[token] = prices_at_boundaries(win, first, seen)
    return win, held, moves, series


def walked(
    win: Window, held: dict[Position, Decimal], moves: list[Moved], series: Series
) -> list[Decimal]:
    """The portfolio's value at each boundary, by a plain walk (unpriced tokens at 0)."""
    values = []
    for k in range(win.count + 1):
        boundary = win.start + k * win.step
        amount: dict[Position, Decimal] = dict(held)
        for move in moves:
            if move.at <= boundary:
                amount[move.position] = amount.get(move.position, Decimal(0)) + move.delta
        values.append(
            sum((a * (series[p.token_key][k] or 0) for p, a in amount.items()), Decimal(0))
        )
    return values


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_market_and_flows_add_up_to_the_change_in_every_group(scenario: Scenario) -> None:
    win, held, moves, series = scenario
    result = performance(win, held, moves, series, T0 if held else (moves[0].at if moves else None))
    every = [result.total, *result.by_chain.values(), *result.by_token.values(),
             *result.by_wallet.values()]  # fmt: skip
    for outcome in every:
        assert outcome.market_effect + outcome.flow_effect == outcome.change
        assert outcome.max_drawdown <= 0
    first = len(walked(win, held, moves, series)) - len(result.boundaries)
    assert result.total.values == walked(win, held, moves, series)[first:]
    for group in (result.by_chain, result.by_token, result.by_wallet):
        assert sum((o.end_value for o in group.values()), Decimal(0)) == result.total.end_value
        assert sum((o.market_effect for o in group.values()), Decimal(0)) == (
            result.total.market_effect
        )
    check_chain(result)


def check_chain(result: Performance) -> None:
    """The return, bucket by bucket as defined (a bucket starting at 0 adds nothing), to 35
    significant places (the index is computed at 50 digits, in another order)."""
    total = result.total
    level = Decimal(1)
    with localcontext(Context(prec=60)):
        for k in range(1, len(total.values)):
            flow = total.inflows.get(k, Decimal(0)) - total.outflows.get(k, Decimal(0))
            if total.values[k - 1]:
                level *= (total.values[k] - flow) / total.values[k - 1]
            assert abs(total.returns[k] - (level - 1)) <= (abs(level) + 1) * Decimal("1e-35")


@st.composite
def histories(draw: st.DrawFn) -> tuple[Window, list[Moved], Series, int, int]:
    """Moves and prices over a window that starts before anything was recorded, and a
    sub-window of it (its first and last boundaries)."""
    days = draw(st.integers(2, 9))
    win = window(days)
    positions = [Position(w, c, t) for w in WALLETS for c, t in TOKENS]
    moves = drawn_moves(draw, positions, days, 14)
    series: Series = {}
    for token in TOKENS:
        hours = sorted(draw(st.lists(st.integers(1, 24 * days), max_size=10)))
        seen = [(T0 + timedelta(hours=h), draw(usd)) for h in hours]
        series[token] = prices_at_boundaries(win, None, seen)
    first = draw(st.integers(0, days - 1))
    last = draw(st.integers(first + 1, days))
    return win, moves, series, first, last


def held_by(moves: list[Moved], moment: datetime) -> dict[Position, Decimal]:
    held: dict[Position, Decimal] = {}
    for move in moves:
        if move.at <= moment:
            held[move.position] = held.get(move.position, Decimal(0)) + move.delta
    return held


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 9))
def test_kept_tracks_give_the_performance_of_any_window_on_them(
    history: tuple[Window, list[Moved], Series, int, int], split: int
) -> None:
    """Tracks kept over a long window, in two parts joined, answer for a window inside it
    exactly what the performance computed from the records of that window says."""
    win, moves, series, first, last = history
    split = min(split, win.count)
    before = Window(win.start, win.start + split * win.step, win.step) if split else None
    after = Window(win.start + split * win.step, win.end, win.step)

    def kept(part: Window) -> tuple[dict[TokenKey, Track], dict[Hashable, Track]]:
        offset = (part.start - win.start) // win.step
        prices = {t: p[offset : offset + part.count + 1] for t, p in series.items()}
        return tracks(part, held_by(moves, part.start), by_boundary(part, moves), prices)

    tokens, wallets = kept(after)
    if before is not None:
        early_tokens, early_wallets = kept(before)
        size = before.count + 1
        tokens = {
            t: early_tokens.get(t, Track.empty(size)).joined(
                tokens.get(t, Track.empty(after.count + 1))
            )
            for t in {*early_tokens, *tokens}
        }
        wallets = {
            w: early_wallets.get(w, Track.empty(size)).joined(
                wallets.get(w, Track.empty(after.count + 1))
            )
            for w in {*early_wallets, *wallets}
        }
        # Over the whole window, each line's outcome carried on from the part before the
        # split: exactly the records' performance.
        whole = computed(win, {}, by_boundary(win, moves), series, moves[0].at if moves else None)
        assert from_tracks(win, tokens, wallets) == whole
        # And the chains' and the total's too, from what is held of them.
        held: dict[Hashable, Any] = {}
        assert from_tracks(win, tokens, wallets, held) == whole
        assert from_tracks(win, tokens, wallets, held) == whole  # (carried on from what it held)
    inside = Window(win.start + first * win.step, win.start + last * win.step, win.step)
    expected = computed(
        inside,
        held_by(moves, inside.start),
        by_boundary(inside, moves),
        {t: p[first : last + 1] for t, p in series.items()},
        moves[0].at if moves else None,
    )
    got = from_tracks(
        inside,
        {t: track.sliced(first, last) for t, track in tokens.items()},
        {w: track.sliced(first, last) for w, track in wallets.items()},
    )
    assert got == expected
    # The wallets indexed (as kept for reading their figures in one pass), in two parts too.
    indexed = {}
    for wallet, track in wallets.items():
        if split:
            early, later = track.sliced(0, split), track.sliced(split, win.count)
            joined = Indexed.of(early).joined(later)
            indexed[wallet] = joined.sliced(first, last)
            # Read unsliced, a window across the split finds its drawdown from where the
            # part before it found its own: the same figures as one index over it all.
            assert joined.figures(first, last) == Indexed.of(track).figures(first, last)
        else:
            indexed[wallet] = Indexed.of(track).sliced(first, last)
    summed = from_tracks(inside, {t: tr.sliced(first, last) for t, tr in tokens.items()}, indexed)
    assert summed.by_wallet.keys() == expected.by_wallet.keys()
    for wallet, figures in summed.by_wallet.items():
        assert_close(figures, expected.by_wallet[wallet])


def assert_close(got: Figures, expected: Figures) -> None:
    """The same figures: values and flows exact, ratios to 35 places (an index kept over a
    longer span than the window rounds in other places)."""
    assert (got.start_value, got.end_value, got.inflow, got.outflow) == (
        expected.start_value, expected.end_value, expected.inflow, expected.outflow
    )  # fmt: skip
    tolerance = (abs(expected.time_weighted_return) + 1) * Decimal("1e-35")
    assert abs(got.time_weighted_return - expected.time_weighted_return) <= tolerance
    assert abs(got.max_drawdown - expected.max_drawdown) <= Decimal("1e-35")
    assert (got.peak, got.trough) == (expected.peak, expected.trough)


def test_an_index_past_a_floats_range_is_measured_exactly() -> None:
    """A wallet whose index outgrows a double (10^400) still has its drawdown, located on the
    exact values: from the peak at 10^400 to 10^399 is a fall of nine tenths."""
    index = ["1", "1E+400", "1E+399", "2E+399"]
    kept = Indexed(["1"] * 4, ["0"] * 4, ["0"] * 4, index, list(map(float, index)), [8] * 4)
    figures = kept.figures(0, 3)
    assert figures.max_drawdown == Decimal("-0.9")
    assert (figures.peak, figures.trough) == (1, 2)
    assert figures.time_weighted_return == Decimal("2E+399") - 1


def test_a_wallets_summed_flows_keep_every_digit() -> None:
    """Flows summed since a track began are exact however many digits they carry (past the
    28 of Python's default context): a window's flows are the difference of two sums."""
    tiny = Decimal("1.0000000000000000000000000599E-8")  # 29 digits
    track = Track([tiny, ZERO, tiny], {2: tiny}, {1: tiny}, [8, 8, 8])
    kept = Indexed.of(track)
    assert (kept.inflows, kept.outflows) == (["0", "0", str(tiny)], ["0", str(tiny), str(tiny)])
    figures = kept.figures(0, 2)
    assert (figures.inflow, figures.outflow) == (tiny, tiny)


levels_st = st.lists(
    st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(0.01, 100.0)), min_size=1
)


@settings(max_examples=500, deadline=None)
@given(levels_st, levels_st)
def test_a_drawdown_found_from_a_part_is_the_one_found_over_all(
    before: list[float], later: list[float]
) -> None:
    """The deepest fall of levels found from where it was in their first part, the rest
    alone looked at, is the one found over them all: the same peak and trough, ties
    included (the first highest peak, the first deepest trough)."""
    levels = [1.0, *before]
    assert _spotted_after(levels, later, _spotted(levels)) == _spotted(levels + later)
