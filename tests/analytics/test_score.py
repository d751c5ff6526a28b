"""The score rubric (1-5) from a turn's signals, offline."""

from __future__ import annotations

from samtale.analytics.score import TurnSignals, heuristic_score, parse_score


def test_a_well_grounded_answer_scores_five_and_a_weak_one_four() -> None:
    assert heuristic_score(TurnSignals(status="ok", answer="Delivery takes 2-3 days.", best_score=0.8, sources=2)) == (
        5,
        "heuristic",
    )
    assert (
        heuristic_score(TurnSignals(status="ok", answer="Delivery takes 2-3 days.", best_score=0.4, sources=1))[0] == 4
    )
    assert heuristic_score(TurnSignals(status="ok", answer="Maybe.", best_score=0.1, sources=1))[0] == 3


def test_nothing_found_in_either_language_scores_two_and_an_error_one() -> None:
    english = TurnSignals(status="ok", answer="I could not find anything about that in our catalogue or policies.")
    danish = TurnSignals(status="ok", answer="Jeg kunne desværre ikke finde noget om det i vores katalog.")

    assert heuristic_score(english)[0] == 2
    assert heuristic_score(danish)[0] == 2
    assert heuristic_score(TurnSignals(status="error", answer="", error_category="llm_timeout")) == (1, "heuristic")


def test_orders_small_talk_repeats_and_feedback() -> None:
    assert heuristic_score(TurnSignals(status="ok", answer="Order 1001: shipped.", order_shown=True))[0] == 5
    assert heuristic_score(TurnSignals(status="ok", answer="What is your order number?", order_flow=True))[0] == 3
    assert heuristic_score(TurnSignals(status="ok", answer="Hello!", topic="other"))[0] == 4
    repeated = TurnSignals(status="ok", answer="x", best_score=0.8, sources=1, repeated=True, asked_for_person=True)
    assert heuristic_score(repeated)[0] == 3
    assert heuristic_score(TurnSignals(status="ok", answer="x", best_score=0.9, sources=1, feedback="down")) == (
        1,
        "feedback",
    )


def test_llm_judge_answers_are_parsed_strictly() -> None:
    assert parse_score('{"score": 4}') == 4
    assert parse_score("5") == 5
    assert parse_score("I would say 4") is None
    assert parse_score('{"score": 9}') is None
