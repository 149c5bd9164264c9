"""The self-checks of chapter 6: solutions pass, plausible wrong answers fail."""

import re

import numpy as np
import pytest

from igrlib.coursework.checks import run_check

# ---- beyond-principal-rate ----------------------------------------------------------------


def principal_rate(lam, lr):
    return np.log(1 - lr * np.asarray(lam, dtype=complex)) / lr


def real_log(lam, lr):  # NaN where 1 - h lambda < 0
    return np.log(1 - lr * np.asarray(lam)) / lr


def log_of_size(lam, lr):  # loses the flip of sign
    return np.log(np.abs(1 - lr * np.asarray(lam))) / lr


def no_division(lam, lr):
    return np.log(1 - lr * np.asarray(lam, dtype=complex))


def first_order(lam, lr):  # the modified-equation series cut after the h term
    lam = np.asarray(lam, dtype=float)
    return -lam * (1 + lr * lam / 2)


def in_place(lam, lr):
    out = principal_rate(lam, lr)
    lam *= 2
    return out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (real_log, "complex logarithm"),
        (log_of_size, "sign is wrong"),
        (no_division, "division by h"),
        (first_order, "(1 - h lambda)^n"),
        (in_place, "in place"),
        (lambda lam, lr: 0.0, "shape"),
    ],
)
def test_principal_rate_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-principal-rate", wrong)
    assert not passed
    assert hint in message


# ---- beyond-terms-needed ------------------------------------------------------------------


def terms_needed(x, tol):
    if abs(x) >= 1:
        return None
    target = np.log1p(-x) / x if x != 0 else -1.0
    total, n = 0.0, 0
    while abs(total - target) >= tol:
        total -= x**n / (n + 1)
        n += 1
    return n


def last_term_rule(x, tol):  # stops when the next term is small, not the error
    if abs(x) >= 1:
        return None
    n = 1
    while abs(x) ** n / (n + 1) >= tol:
        n += 1
    return n


def one_too_many(x, tol):
    n = terms_needed(x, tol)
    return None if n is None else n + 1


def never_none(x, tol):
    return terms_needed(x, tol) if abs(x) < 1 else 10_000


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (last_term_rule, "the whole tail|already enough"),
        (one_too_many, "smallest"),
        (never_none, "does not converge"),
        (lambda x, tol: None, "converges"),
        (lambda x, tol: 2.5, "whole number"),
    ],
)
def test_terms_needed_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-terms-needed", wrong)
    assert not passed
    assert re.search(hint, message), message
