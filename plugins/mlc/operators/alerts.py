"""Alerts: a person is told when ml-connector needs one, through Airflow's notifier mechanism.

Every DAG puts :func:`alert_callbacks` on its tasks (``default_args``, through ``dag_params.task_defaults``):

* ``on_failure_callback`` fires when a task has failed for good: its retries are exhausted, or it
  raised a failure no retry can mend (a changed host key, an Exact Online consent that expired, a
  partner's rejecting acknowledgment). The mail says what failed, the error as the task logged it,
  and what to do.
* ``on_success_callback`` fires when a task finished but left work for a person: it pushed an
  ``alerts`` XCom (:func:`push_alerts`), e.g. rows of a Stampli file that Intacct cannot take.

Per deployment, without touching the DAGs: ``MLC_ALERT_TO`` (comma-separated recipients),
``MLC_ALERT_SMTP_CONN_ID`` (default: ``[email] email_conn_id``, else ``smtp_default``),
``MLC_ALERT_FROM`` (else the SMTP connection's ``from_email``), and ``MLC_ALERT_NOTIFIER``: the dotted
path of a subclass that sends elsewhere (override :meth:`MlcAlertNotifier.send`). With no
recipients the alert is written to the task log as a warning and nothing is sent.
"""

from __future__ import annotations

import html
import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseNotifier, Context
from airflow.sdk.exceptions import AirflowFailException

from mlc.hooks.masking import redacted

log = logging.getLogger(__name__)

ALERTS_XCOM_KEY = "alerts"
#: what a task that failed for good leaves for the run's ``needs_a_person`` task (:mod:`mlc.operators.watcher`)
FAILURE_XCOM_KEY = "failure"

# What to do, by failure: matched on the exception's class name (and its bases), so this module
# imports no hook. An exception may also carry its own ``advice`` attribute.
ADVICE = {
    "HostKeyMismatchError": "The SFTP server presented another host key. Ask the partner, by phone or a channel you "
                            "trust, for the new key's fingerprint; if it matches the one in the error, put the new "
                            "key in the connection's host_key extra, then clear the failed task. If it does not "
                            "match, do not connect: someone may be in the middle.",
    "HostKeyUnknownError": "Pin the server's host key (host_key extra of the connection) as its operator confirms it, "
                           "then clear the failed task.",
    "ExactReauthRequired": "Exact Online needs a new consent: run `mlc exact-auth --redirect-uri <your app's "
                           "redirect URI>` as a user of the division, then clear the failed task.",
    "AckRejected": "Read the partner's acknowledgment (acks/processed/ on the SFTP server; the codes are in the task "
                   "log), correct the data in the source system, and send the file again with the `force` Param for "
                   "that window.",
}
RETRIES_EXHAUSTED = ("The task failed on every try. Check that the system named in the error is reachable and "
                     "answering, then clear the task in the Airflow UI: every step is idempotent, so a replay "
                     "sends nothing twice.")


@dataclass(frozen=True)
class Alert:
    subject: str
    text: str


class AckRejected(AirflowFailException):
    """A partner's acknowledgment rejected something we sent: a person must act, a retry cannot (and a retry
    would find the ack already filed away and succeed, hiding the rejection)."""


def push_alerts(context: Context, alerts: list[dict[str, str]]) -> None:
    """Leave alerts (``{"what": ..., "do": ...}``) for the success callback: the task finished, but each needs a
    person. Pushed once, at the end of the task; nothing is pushed when the list is empty."""
    if alerts:
        context["ti"].xcom_push(key=ALERTS_XCOM_KEY, value=alerts)
        from mlc.operators.attention import ask_a_person

        ask_a_person(context, alerts)  # and under Required Actions (mlc_needs_a_person)


def advice_for(exc: BaseException | None) -> str:
    """What a person should do about ``exc``, looking through the errors it was raised from."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "advice", None):
            return str(exc.advice)
        for cls in type(exc).__mro__:
            if cls.__name__ in ADVICE:
                return ADVICE[cls.__name__]
        exc = exc.__cause__ or exc.__context__
    return RETRIES_EXHAUSTED


def _where(context: Context) -> tuple[str, str, str, Any]:
    ti = context["ti"]
    return ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "try_number", None)


def failure_alert(context: Context) -> Alert:
    """The alert for a task that failed for good."""
    dag_id, task_id, run_id, tries = _where(context)
    exc = context.get("exception")
    error = f"{type(exc).__name__}: {exc}" if exc is not None else "(no exception recorded)"
    advice = advice_for(exc)
    kind = "needs a person" if advice is not RETRIES_EXHAUSTED else f"failed after {tries} tries"
    text = (f"What failed: task {task_id} of DAG {dag_id}, run {run_id} (try {tries}).\n"
            f"Error: {error}\n\nWhat to do: {advice}\n")
    return Alert(f"[ml-connector] {dag_id}.{task_id} {kind}", text)


def leave_failure(context: Context) -> None:
    """Leave what failed and what to do (an XCom) for the run's ``needs_a_person`` task; never in the alert's way."""
    dag_id, task_id, run_id, _ = _where(context)
    exc = context.get("exception")
    error = redacted(f"{type(exc).__name__}: {exc}") if exc is not None else "no error recorded"
    try:
        context["ti"].xcom_push(key=FAILURE_XCOM_KEY, value={"what": f"Task {task_id} failed: {error}"[:2000],
                                                             "do": advice_for(exc)})
    except Exception:  # noqa: BLE001 - the mail matters more; the report then says "its log says why"
        log.warning("Could not leave the failure of %s.%s for needs_a_person", dag_id, task_id, exc_info=True)


def pending_alerts(context: Context) -> Alert | None:
    """The alert for a task that succeeded but pushed ``alerts``; None when it pushed none."""
    items = context["ti"].xcom_pull(task_ids=context["ti"].task_id, key=ALERTS_XCOM_KEY) or []
    if not items:
        return None
    dag_id, task_id, run_id, _ = _where(context)
    lines = [f"Task {task_id} of DAG {dag_id}, run {run_id}, finished but needs a person:\n"]
    for n, item in enumerate(items, 1):
        lines.append(f"{n}. What: {item.get('what')}\n   What to do: {item.get('do')}\n")
    return Alert(f"[ml-connector] {dag_id}.{task_id}: {len(items)} item(s) need attention", "\n".join(lines))


class MlcAlertNotifier(BaseNotifier):
    """Tell a person what failed and what to do; by SMTP unless a deployment says otherwise."""

    template_fields = ()

    def __init__(self, *, on: str = "failure", to: str | list[str] | None = None, smtp_conn_id: str | None = None,
                 from_email: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if on not in ("failure", "success"):
            raise ValueError("on must be 'failure' or 'success'")
        self.on, self.to, self.smtp_conn_id, self.from_email = on, to, smtp_conn_id, from_email

    def notify(self, context: Context) -> None:
        if self.on == "failure":
            alert = failure_alert(context)
            leave_failure(context)
        else:
            alert = pending_alerts(context)
        if alert is not None:
            self.send(alert, context)

    def recipients(self) -> list[str]:
        to = self.to if self.to is not None else os.environ.get("MLC_ALERT_TO", "")
        items = to if isinstance(to, list) else str(to).split(",")
        return [t.strip() for t in items if t and t.strip()]

    def send(self, alert: Alert, context: Context) -> None:
        """Mail the alert; subclasses send it elsewhere."""
        log = self.log
        alert = Alert(redacted(alert.subject), redacted(alert.text))  # an error may quote a secret the logs mask
        to = self.recipients()
        if not to:
            log.warning("ALERT (MLC_ALERT_TO is not set, so no one was told): %s\n%s", alert.subject, alert.text)
            return
        from airflow.configuration import conf
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        conn_id = (self.smtp_conn_id or os.environ.get("MLC_ALERT_SMTP_CONN_ID")
                   or conf.get("email", "email_conn_id", fallback=SmtpHook.default_conn_name))
        with SmtpHook(smtp_conn_id=conn_id) as smtp:
            smtp.send_email_smtp(to=to, subject=alert.subject, from_email=self.from_email
                                 or os.environ.get("MLC_ALERT_FROM") or smtp.from_email or "ml-connector@localhost",
                                 html_content=f"<pre>{html.escape(alert.text)}</pre>", mime_subtype="alternative")
        log.info("Alert sent to %s: %s", ", ".join(to), alert.subject)


def notifier_class() -> type[MlcAlertNotifier]:
    path = os.environ.get("MLC_ALERT_NOTIFIER", "").strip()
    if not path:
        return MlcAlertNotifier
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def alert_callbacks() -> dict[str, list[MlcAlertNotifier]]:
    """The callbacks every DAG's ``default_args`` carry."""
    cls = notifier_class()
    return {"on_failure_callback": [cls(on="failure")], "on_success_callback": [cls(on="success")]}
