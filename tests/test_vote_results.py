"""Result arithmetic against hand-worked examples (SPEC §4.9 results, §4.10 aggregation, S8)."""

from __future__ import annotations

import pytest

from decidero.activities.ballots.results import Option, dot_rows, rank_rows
from decidero.meetings.charts import CHART_WIDTH, chart

X, Y, Z = Option("a:opt-1", "X"), Option("a:opt-2", "Y"), Option("a:opt-3", "Z")


def _table(rows: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(r.rank, r.option.label, r.borda, r.avg_rank, r.variance, r.top_share, r.rankings) for r in rows]


def test_s8_borda_ties_are_listed_by_average_rank_then_name_and_share_their_rank() -> None:
    # P1 ranks Y, X, Z and P2 ranks X, Y, Z: n = 3, so a first place is worth 2 points.
    rows = rank_rows([Z, Y, X], [[Y.id, X.id, Z.id], [X.id, Y.id, Z.id]])

    # X: (3-2) + (3-1) = 3, ranks {2, 1}: mean 1.5, variance ((0.5)² + (0.5)²) / 2 = 0.25, first once of 2.
    assert _table(rows) == [
        (1, "X", 3, 1.5, 0.25, 50.0, 2),
        (1, "Y", 3, 1.5, 0.25, 50.0, 2),  # tied: competition ranks 1, 1, 3
        (3, "Z", 0, 3.0, 0.0, 0.0, 2),
    ]


def test_population_variance_and_top_choice_share_of_three_rankings() -> None:
    a, b, c, d = (Option(f"a:opt-{i}", name) for i, name in enumerate("ABCD", start=1))
    rankings = [[a.id, b.id, c.id, d.id], [a.id, c.id, b.id, d.id], [b.id, c.id, d.id, a.id]]

    rows = {r.option.label: r for r in rank_rows([a, b, c, d], rankings)}

    # A ranks {1, 1, 4}: Borda 3 + 3 + 0 = 6, mean 2, variance (1 + 1 + 4) / 3 = 2, first in 2 of 3.
    assert (rows["A"].borda, rows["A"].avg_rank, rows["A"].variance) == (6, 2.0, 2.0)
    assert rows["A"].top_share == pytest.approx(200 / 3)
    # B ranks {2, 3, 1}: Borda 2 + 1 + 3 = 6, mean 2, variance (0 + 1 + 1) / 3.
    assert (rows["B"].borda, rows["B"].avg_rank) == (6, 2.0)
    assert rows["B"].variance == pytest.approx(2 / 3)
    assert rows["B"].top_share == pytest.approx(100 / 3)
    # C ranks {3, 2, 2}: Borda 5; D ranks {4, 4, 3}: Borda 1, never first.
    assert (rows["C"].borda, rows["D"].borda, rows["D"].top_share) == (5, 1, 0.0)
    assert [r.option.label for r in rank_rows([a, b, c, d], rankings)] == ["A", "B", "C", "D"]


def test_a_three_way_cycle_ties_on_every_measure_and_falls_back_to_names() -> None:
    # X, Y, Z / Y, Z, X / Z, X, Y: each idea is first, second and third once.
    rows = rank_rows([Z, X, Y], [[X.id, Y.id, Z.id], [Y.id, Z.id, X.id], [Z.id, X.id, Y.id]])

    # Borda 2 + 1 + 0 = 3 each; ranks {1, 2, 3}: mean 2, variance (1 + 0 + 1) / 3; first in 1 of 3.
    assert [(r.rank, r.option.label, r.borda, r.avg_rank, r.rankings) for r in rows] == [
        (1, "X", 3, 2.0, 3),
        (1, "Y", 3, 2.0, 3),
        (1, "Z", 3, 2.0, 3),
    ]
    assert all(r.variance == pytest.approx(2 / 3) and r.top_share == pytest.approx(100 / 3) for r in rows)


def test_unanimous_rankings_have_no_dissent_and_one_top_choice() -> None:
    rows = rank_rows([X, Y, Z], [[Z.id, Y.id, X.id]] * 4)

    # n = 3, four ballots: Z 4 × 2 = 8, Y 4 × 1 = 4, X 0; every variance 0; Z first on all four.
    assert _table(rows) == [
        (1, "Z", 8, 1.0, 0.0, 100.0, 4),
        (2, "Y", 4, 2.0, 0.0, 0.0, 4),
        (3, "X", 0, 3.0, 0.0, 0.0, 4),
    ]


def test_names_break_ties_ignoring_case() -> None:
    banana, apple = Option("a:opt-1", "Banana"), Option("a:opt-2", "apple")

    rows = rank_rows([banana, apple], [[banana.id, apple.id], [apple.id, banana.id]])

    assert [r.option.label for r in rows] == ["apple", "Banana"]
    assert [r.rank for r in rows] == [1, 1]


def test_without_rankings_every_idea_scores_zero_and_has_no_average() -> None:
    rows = rank_rows([Y, X], [])

    assert _table(rows) == [(1, "X", 0, None, None, 0.0, 0), (1, "Y", 0, None, None, 0.0, 0)]


def test_dot_results_use_standard_competition_ranks() -> None:
    a, b, c, d = (Option(f"a:opt-{i}", name) for i, name in enumerate(["D", "C", "B", "A"], start=1))
    totals = [(a.id, 5, 2), (b.id, 3, 2), (c.id, 3, 1), (d.id, 1, 1)]  # (option, dots, voters)

    rows = dot_rows([a, b, c, d], totals)

    # D 5; C 3 and B 3 share rank 2 (B first by name); A 1 is fourth, not third.
    assert [(r.rank, r.option.label, r.dots, r.voters) for r in rows] == [
        (1, "D", 5, 2),
        (2, "B", 3, 1),
        (2, "C", 3, 2),
        (4, "A", 1, 1),
    ]


def test_options_without_dots_share_the_last_rank_and_unknown_options_are_ignored() -> None:
    rows = dot_rows([Z, Y, X], [(Y.id, 2, 1), ("a:opt-99", 5, 1)])

    assert [(r.rank, r.option.label, r.dots, r.voters) for r in rows] == [(1, "Y", 2, 1), (2, "X", 0, 0), (2, "Z", 0, 0)]


def test_chart_bars_scale_to_the_largest_value() -> None:
    bars = chart([("X", 4, "4"), ("Y", 1, "1"), ("Z", 0, "0")])

    assert [(b.label, b.width, b.y) for b in bars] == [("X", CHART_WIDTH, 0), ("Y", CHART_WIDTH / 4, 40), ("Z", 0.0, 80)]
    assert [b.width for b in chart([("X", 0, "0")])] == [0.0]
