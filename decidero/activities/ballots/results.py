"""Result arithmetic for dot voting and rank-order voting (SPEC §4.9–4.10). Pure functions, no database.

Dot voting: options by dots (descending), then label, with standard competition ranks (1, 2, 2, 4).
Rank-order: Borda score Σ (n − rank), average rank, population variance of the ranks and the share of
rankings placing the idea first; sorted by Borda descending, average rank ascending, label ignoring case,
with competition ranks too (ideas equal in Borda and average rank share a place).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class DotRow:
    rank: int
    option: Option
    dots: int
    voters: int


@dataclass(frozen=True)
class RankRow:
    rank: int
    option: Option
    borda: int
    avg_rank: float | None
    variance: float | None
    top_share: float  # percent of rankings placing this idea first
    rankings: int


def _label_key(option: Option) -> str:
    return option.label.casefold()


def dot_rows(options: Sequence[Option], totals: Iterable[tuple[str, int, int]]) -> list[DotRow]:
    """Rows from per-option ``(option id, dots, voters)`` totals; unknown option ids are ignored."""
    dots = {o.id: 0 for o in options}
    voters = {o.id: 0 for o in options}
    for option_id, count, people in totals:
        if option_id in dots:
            dots[option_id], voters[option_id] = count, people
    ordered = sorted(options, key=lambda o: (-dots[o.id], _label_key(o), o.label))
    rows: list[DotRow] = []
    for index, option in enumerate(ordered):
        tied = rows and rows[-1].dots == dots[option.id]
        rank = rows[-1].rank if tied else index + 1
        rows.append(DotRow(rank, option, dots[option.id], voters[option.id]))
    return rows


def rank_rows(options: Sequence[Option], rankings: Iterable[Sequence[str]]) -> list[RankRow]:
    """Rows from complete rankings (each a list of option ids, first = rank 1)."""
    n = len(options)
    positions: dict[str, list[int]] = {o.id: [] for o in options}
    ballots = 0
    for order in rankings:
        ballots += 1
        for rank, option_id in enumerate(order, start=1):
            if option_id in positions:
                positions[option_id].append(rank)
    unsorted = [_rank_row(o, positions[o.id], n, ballots) for o in options]
    ordered = sorted(
        unsorted,
        key=lambda r: (-r.borda, math.inf if r.avg_rank is None else r.avg_rank, _label_key(r.option), r.option.label),
    )
    rows: list[RankRow] = []
    for index, r in enumerate(ordered, 1):
        # Standard competition ranks (1, 1, 3): equal Borda and average rank share a place.
        tied = rows and (rows[-1].borda, rows[-1].avg_rank) == (r.borda, r.avg_rank)
        rank = rows[-1].rank if tied else index
        rows.append(RankRow(rank, r.option, r.borda, r.avg_rank, r.variance, r.top_share, r.rankings))
    return rows


def _rank_row(option: Option, ranks: list[int], n: int, ballots: int) -> RankRow:
    if not ranks:
        return RankRow(0, option, 0, None, None, 0.0, 0)
    mean = sum(ranks) / len(ranks)
    variance = sum((r - mean) ** 2 for r in ranks) / len(ranks)
    top = 100.0 * sum(1 for r in ranks if r == 1) / ballots if ballots else 0.0
    return RankRow(0, option, sum(n - r for r in ranks), mean, variance, top, len(ranks))
