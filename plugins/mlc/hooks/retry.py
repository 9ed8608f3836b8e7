"""One retry policy for every hook: how many attempts, how long between them, and what to wait for.

Each hook decides *whether* a failure is worth another try (its own predicate: a 5xx, a dropped
connection, Intacct's "try again later"; never a refused login or a functional error). *How* it
tries again is the same everywhere and is set here: exponential backoff from ``base`` seconds, at
most ``cap`` seconds, with full jitter (a random wait up to the backoff, so workers that failed
together do not return together), ``attempts`` tries in all. A server that says how long to wait
(``Retry-After``, Exact's rate-limit reset) is believed, up to ``retry_after_max`` seconds; a longer
wait is not sat out in a worker slot but raised, for the task's own retries.

A deployment tunes the policy with one setting, ``MLC_RETRY_POLICY`` (for example
``attempts=6,base=2,cap=300``); fields it does not name keep their defaults. Hook retries stay
short on purpose: an outage longer than a few minutes is the task's ``retries``' business.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import requests
import tenacity

log = logging.getLogger(__name__)

SETTING = "MLC_RETRY_POLICY"
#: An answer cut off mid-body (a proxy, a load balancer): a transport failure like a dropped connection.
CUT_OFF = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a hook tries again after a failure its predicate calls transient.

    :param attempts: tries in all, the first included.
    :param base: upper bound of the first wait, in seconds; it doubles each time.
    :param cap: the longest backoff, in seconds.
    :param jitter: wait a random time up to the backoff (full jitter) instead of the backoff itself.
    :param retry_after_max: the longest server-requested wait (``Retry-After``) sat out; beyond it,
        the failure is raised at once.
    """

    attempts: int = 6
    base: float = 2.0
    cap: float = 300.0
    jitter: bool = True
    retry_after_max: float = 300.0

    @classmethod
    def configured(cls, **changes: Any) -> RetryPolicy:
        """The deployment's policy (defaults, then ``MLC_RETRY_POLICY``), then ``changes``."""
        return dataclasses.replace(parse(os.environ.get(SETTING, "")), **changes)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jittered when asked."""
        ceiling = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return random.uniform(0, ceiling) if self.jitter else ceiling  # noqa: S311 - not cryptographic

    def wait_after(self, attempt: int, exc: BaseException | None = None) -> float:
        """The wait after ``attempt`` failed with ``exc``: the server's ``retry_after`` when it gave one (never more
        than ``retry_after_max``)."""
        asked = retry_after(exc)
        return min(max(asked, 0.0), self.retry_after_max) if asked is not None else self.backoff(attempt)

    def may_wait(self, exc: BaseException | None) -> bool:
        """Whether the wait ``exc`` asks for is short enough to sit out."""
        asked = retry_after(exc)
        return asked is None or asked <= self.retry_after_max

    def sleep(self, attempt: int, exc: BaseException | None = None) -> None:
        """Sit out the wait after ``attempt`` (for loops that are not a plain call, such as a read-back)."""
        time.sleep(self.wait_after(attempt, exc))


def retry_after(exc: BaseException | None) -> float | None:
    """The seconds a server asked to wait before the next try: the error's ``retry_after``, or the
    ``Retry-After`` header of the HTTP answer it carries (``requests.HTTPError.response``)."""
    value = getattr(exc, "retry_after", None)
    if value is not None:
        return float(value)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return parse_retry_after(headers.get("Retry-After")) if headers is not None else None


def parse_retry_after(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds (a number of seconds or an HTTP date), ``None`` when absent."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max((moment - datetime.now(timezone.utc)).total_seconds(), 0.0)


def parse(text: str) -> RetryPolicy:
    """A policy from ``attempts=6,base=2,cap=300,jitter=full,retry_after_max=300`` (any subset, any order)."""
    fields = {f.name: f.type for f in dataclasses.fields(RetryPolicy)}
    values: dict[str, Any] = {}
    for item in (part.strip() for part in text.replace(";", ",").replace(" ", ",").split(",")):
        if not item:
            continue
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ValueError(f"{SETTING}: {item!r} is not one of {', '.join(f'{n}=...' for n in fields)}")
        try:
            if name == "jitter":
                if raw.strip().lower() not in ("full", "true", "yes", "1", "none", "false", "no", "0"):
                    raise ValueError(raw)
                values[name] = raw.strip().lower() in ("full", "true", "yes", "1")
            elif name == "attempts":
                values[name] = int(raw)
            else:
                values[name] = float(raw)
        except ValueError:
            raise ValueError(f"{SETTING}: {name}={raw!r} is not a valid value") from None
        if name != "jitter" and values[name] < (1 if name == "attempts" else 0):
            raise ValueError(f"{SETTING}: {name}={raw!r} is out of range")
    return RetryPolicy(**values)


def tenacity_args(policy: RetryPolicy, retryable: Callable[[BaseException], bool], *, what: str,
                  logger: logging.Logger | None = None) -> dict[str, Any]:
    """``tenacity.Retrying`` keyword arguments that follow ``policy`` and retry what ``retryable`` accepts (and
    nothing else), logging each retry as ``<what> failed (attempt n of N), retrying in s: error``; the last error
    is raised. For hooks whose provider takes them (``SnowflakeSqlApiHook(api_retry_args=...)``)."""
    logger = logger or log

    def wait(state: tenacity.RetryCallState) -> float:
        return policy.wait_after(state.attempt_number, state.outcome.exception() if state.outcome else None)

    def worth_it(exc: BaseException) -> bool:
        return retryable(exc) and policy.may_wait(exc)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        logger.warning("%s failed (attempt %s of %s), retrying in %.1f s: %s", what, state.attempt_number,
                       policy.attempts, state.next_action.sleep if state.next_action else 0.0,
                       state.outcome.exception() if state.outcome else None)

    return {"stop": tenacity.stop_after_attempt(policy.attempts), "wait": wait,
            "retry": tenacity.retry_if_exception(worth_it), "before_sleep": before_sleep, "reraise": True}


def retrying(policy: RetryPolicy, retryable: Callable[[BaseException], bool], *, what: str,
             logger: logging.Logger | None = None) -> tenacity.Retrying:
    """A tenacity loop of :func:`tenacity_args`, for ``for attempt in retrying(...): with attempt: ...``."""
    return tenacity.Retrying(**tenacity_args(policy, retryable, what=what, logger=logger))


def call_with_retries(fn: Callable[..., T], *args: Any, policy: RetryPolicy,
                      retryable: Callable[[BaseException], bool], what: str,
                      logger: logging.Logger | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, tried again under ``policy`` while it fails with what ``retryable`` accepts."""
    return retrying(policy, retryable, what=what, logger=logger)(fn, *args, **kwargs)
