"""Classroom exercises (课堂练习): small files you edit, and checks that tell you at once whether they work.

    python -m labs check --list              the exercises
    python -m labs check ex01                check your labs/exercises/ex01_backoff.py
    python -m labs check all                 check them all
    python -m labs check ex01 --solution     check the reference solution (for instructors)

(``python -m labs.exercises ...`` does the same.)

Each ``exNN_*.py`` file states its task in 中文 and English and has stubs that
``raise NotImplementedError``: replace them with your code. The checks run
real jobs, a real broker or a real server where the exercise is about them:
the embedded broker starts inside the check itself, so nothing needs to be
running, and nothing touches a broker your class is using. Reference solutions
live in ``solutions/``; the instructor guide is ``docs/instructor.md``.
"""
