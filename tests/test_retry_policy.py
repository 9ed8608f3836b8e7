"""The one retry policy of every hook: the deployment's setting, the waits, Retry-After, the predicate."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from mlc.hooks.retry import SETTING, RetryPolicy, call_with_retries, parse, parse_retry_after, retry_after


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("try again")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


def flaky(failures: list[BaseException]):
    """A call that raises each of ``failures`` in turn, then answers "done"; counts its calls."""
    calls = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "done"

    return call, calls


def test_the_setting_overrides_only_the_fields_it_names(monkeypatch):
    monkeypatch.setenv(SETTING, "attempts=3, cap=7.5")
    policy = RetryPolicy.configured()
    assert (policy.attempts, policy.base, policy.cap, policy.jitter) == (3, RetryPolicy.base, 7.5, True)
    assert RetryPolicy.configured(attempts=9).attempts == 9  # a hook's own change comes last


def test_without_the_setting_the_defaults_apply(monkeypatch):
    monkeypatch.delenv(SETTING, raising=False)
    assert RetryPolicy.configured() == RetryPolicy()


@pytest.mark.parametrize("text, message", [
    ("tries=3", "is not one of"), ("attempts=three", "not a valid value"), ("attempts=0", "out of range"),
    ("base=-1", "out of range"), ("jitter=maybe", "not a valid value"), ("attempts", "is not one of"),
])
def test_a_wrong_setting_names_the_item(text, message):
    with pytest.raises(ValueError, match=message) as err:
        parse(text)
    assert SETTING in str(err.value)


def test_jitter_off_gives_the_capped_exponential():
    policy = parse("base=2,cap=10,jitter=none")
    assert [policy.backoff(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_full_jitter_stays_under_the_backoff():
    policy = RetryPolicy(base=1, cap=4)
    waits = [policy.backoff(3) for _ in range(200)]
    assert all(0 <= w <= 4 for w in waits) and len(set(waits)) > 100


def test_retries_only_what_the_predicate_accepts_and_stops_after_the_attempts(caplog):
    policy = RetryPolicy(attempts=3, base=0, cap=0)
    call, calls = flaky([Transient(), Transient()])
    with caplog.at_level(logging.WARNING):
        assert call_with_retries(call, policy=policy, retryable=lambda e: isinstance(e, Transient), what="A call") == \
            "done"
    assert len(calls) == 3
    assert [r.getMessage()[:34] for r in caplog.records] == ["A call failed (attempt 1 of 3), re",
                                                             "A call failed (attempt 2 of 3), re"]

    call, calls = flaky([Transient()] * 5)
    with pytest.raises(Transient):
        call_with_retries(call, policy=policy, retryable=lambda e: isinstance(e, Transient), what="A call")
    assert len(calls) == 3

    call, calls = flaky([Fatal()])
    with pytest.raises(Fatal):
        call_with_retries(call, policy=policy, retryable=lambda e: isinstance(e, Transient), what="A call")
    assert len(calls) == 1


def test_a_servers_retry_after_is_waited_for_and_a_too_long_one_is_raised(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", slept.append)
    policy = RetryPolicy(attempts=4, base=100, cap=100, retry_after_max=30)

    call, calls = flaky([Transient(retry_after=1.5), Transient(retry_after=0)])
    assert call_with_retries(call, policy=policy, retryable=lambda e: True, what="A call") == "done"
    assert slept == [1.5, 0.0]  # the server's word, not the policy's 100 s backoff

    call, calls = flaky([Transient(retry_after=3600)])
    with pytest.raises(Transient):
        call_with_retries(call, policy=policy, retryable=lambda e: True, what="A call")
    assert len(calls) == 1  # an hour is the task's retries' business, not a worker slot's


@pytest.mark.parametrize("header, expected", [(None, None), ("", None), ("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0),
                                              ("soon", None)])
def test_retry_after_headers_in_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_as_an_http_date():
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert 115 <= parse_retry_after(later) <= 120


def test_retry_after_is_read_from_an_http_error():
    response = requests.Response()
    response.status_code, response.headers["Retry-After"] = 429, "4"
    assert retry_after(requests.HTTPError(response=response)) == 4.0
    assert retry_after(ValueError("no answer")) is None
