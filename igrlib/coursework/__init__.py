"""Teaching tools, kept apart from the mathematics: the code exercises' self-checks
(:mod:`igrlib.coursework.checks`), the student edition (:mod:`igrlib.coursework.student`) and
the grader (:mod:`igrlib.coursework.grade`).

``python -m igrlib.coursework.student`` and ``python -m igrlib.coursework.grade`` are the
commands; ``python -m igrlib.student`` and ``python -m igrlib.grade`` still work.
"""
