"""The review quiz (labs/quiz.py): every expected answer is accepted, wrong ones are not, feedback is bilingual."""

from __future__ import annotations

import re

import pytest

from labs import quiz
from labs.events import EVENT_TYPES
from labs.retry import RetryPolicy
from labs.states import TERMINAL


@pytest.mark.parametrize("qid", list(quiz.QUESTIONS))
def test_the_expected_answer_is_accepted_with_bilingual_feedback(qid: str) -> None:
    answer = quiz.expected(qid)
    feedback = quiz.check_answer(qid, sorted(answer) if isinstance(answer, frozenset) else answer)
    assert feedback.correct and feedback.answered
    assert re.search(r"[\u4e00-\u9fff]", feedback.message) and "Correct" in feedback.message


@pytest.mark.parametrize("qid", list(quiz.QUESTIONS))
def test_a_wrong_answer_is_refused(qid: str) -> None:
    feedback = quiz.check_answer(qid, "teleport")
    assert not feedback.correct and feedback.answered and "Not quite" in feedback.message


def test_no_answer_yet_lists_the_choices() -> None:
    feedback = quiz.check_answer("q1", None)
    assert not feedback.answered and not feedback.correct
    assert "websocket / sse / polling" in feedback.message and "还没有作答" in feedback.message


def test_answers_in_either_language_and_any_form() -> None:
    assert quiz.check_answer("q1", "广播").correct
    assert quiz.check_answer("q1", " SSE ").correct
    assert quiz.check_answer("q3", "failed, completed").correct
    assert quiz.check_answer("q3", "completed 和 failed").correct
    assert quiz.check_answer("q3", {"completed", "failed"}).correct
    assert not quiz.check_answer("q3", "completed").correct
    assert quiz.check_answer("q4", "4 次").correct and quiz.check_answer("q4", 4).correct
    assert quiz.check_answer("q7", False).correct and quiz.check_answer("q7", "不会").correct
    assert quiz.check_answer("q9", "Dead-letter queue").correct and quiz.check_answer("q9", "退件处理中心").correct


def test_facts_about_the_lab_come_from_the_lab() -> None:
    assert quiz.expected("q3") == TERMINAL
    assert quiz.expected("q4") == RetryPolicy(max_retries=3).max_retries + 1
    assert quiz.expected("q5") == RetryPolicy(max_retries=3).delays()[2]
    assert quiz.expected("q6") == "completed"
    assert quiz.expected("q11") in EVENT_TYPES


def test_an_unknown_question_says_which_exist() -> None:
    with pytest.raises(KeyError, match="q1"):
        quiz.check_answer("q99", "sse")


def test_score_counts_correct_answers() -> None:
    assert quiz.score({"q1": "sse", "q2": "sse"}) == (1, len(quiz.QUESTIONS))


@pytest.mark.parametrize("qid", list(quiz.QUESTIONS))
def test_each_wrong_choice_names_its_misconception(qid: str) -> None:
    """A wrong choice is answered with why it is wrong (zh and en), not only "再想想"; the right one never is."""
    q = quiz.QUESTIONS[qid]
    right = quiz.normalise(quiz.expected(qid))
    assert right not in q.wrong
    for choice in q.choices:
        if quiz.normalise(choice) != right:
            assert quiz.normalise(choice) in q.wrong, f"{qid}: no explanation for the wrong choice {choice!r}"
    for answer, (zh, en) in q.wrong.items():
        message = quiz.check_answer(qid, sorted(answer) if isinstance(answer, frozenset) else answer).message
        assert zh in message and en in message and re.search(r"[\u4e00-\u9fff]", zh)


def test_an_unforeseen_wrong_answer_is_sent_to_its_lesson() -> None:
    message = quiz.check_answer("q2", "teleport").message
    assert "第 07 课" in message and "lesson 07" in message
