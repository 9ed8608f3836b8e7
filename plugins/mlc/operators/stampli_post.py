"""Post the Stampli files staged by :class:`mlc.operators.sftp_pickup.SftpPickupOperator` into Intacct.

Per file, every row ends in exactly one state, with an AUDIT line naming the file, the row, the
vendor, the invoice, the amount, the GL account, the function controlid, Intacct's RECORDNO:

* ``posted``: created now (or found after a lost answer);
* ``already_posted``: the bill or payment was already in Intacct under the same business key
  (vendor + invoice number; vendor + payment reference) with the same amount: not sent again;
* ``rejected``: the row cannot be posted; the reason goes into the error report in ``errors/``
  (the row as it was, plus a Reason column) for AP to correct and drop again;
* ``skipped``: cancelled or rejected in Stampli, not meant to be posted;
* ``unfinished``: Intacct could not be reached or kept failing; the file stays where it is and the
  next run (or clearing this task) finishes it, without duplicates.

A file moves to the archive folder only when no row is unfinished. The writes are batched
(``write_batch_size`` creates per request) and idempotent (:mod:`mlc.hooks.intacct_writes`).
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from mlc.formats.feed import FeedConfig, FeedSchemaError, RowError, open_feed
from mlc.formats.stampli import (Invoice, Payment, assemble_invoices, assemble_payments, bill_key, bill_record,
                                 payment_key, payment_record)
from mlc.hooks.intacct import IntacctHook
from mlc.hooks.intacct_writes import WriteOutcome
from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.operators.alerts import push_alerts
from mlc.operators.attention import declare as declare_attention
from mlc.operators.audit import audit
from mlc.operators.feeds import load_named_feed, write_error_report
from mlc.operators.intacct_reference import IntacctReference
from mlc.operators.stampli_spool import RowSpool
from mlc.state.ledgers import InboundLedger

GROUPS_PER_BATCH = 500  # bills (or payments) assembled, checked and posted at a time: memory is this, not the file


def _sha256_of(path: Path) -> tuple[str, int]:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest(), path.stat().st_size


def is_transient(outcome: WriteOutcome) -> bool:
    """A failure that says nothing about the row (Intacct busy, answer lost, gave up retrying)."""
    error = outcome.error
    return error is None or error.retryable or error.in_process or any(e.errorno == "MLC-RETRY" for e in error.errors)


def intacct_reason(outcome: WriteOutcome) -> str:
    details = outcome.error.errors if outcome.error else []
    return "Intacct refused it: " + "; ".join(e.text() for e in details if e.errorno != "BL01001973") if details \
        else "Intacct refused it"


class _FileRun:
    """One staged file from reading to archiving: its rows spooled to disk, posted a batch of bills at a time;
    ``outcome`` holds the current batch's row outcomes until the spool keeps them."""

    def __init__(self, op: StampliPostOperator, config: FeedConfig, item: dict[str, Any], hook: IntacctHook,
                 reference: IntacctReference, spool: RowSpool) -> None:
        self.op, self.config, self.item, self.hook, self.reference, self.spool = op, config, item, hook, reference, spool
        self.outcome: dict[int, dict[str, Any]] = {}
        self.header: list[str] = []

    # -- outcomes ------------------------------------------------------------------------------------
    def settle(self, rows: Sequence[int], status: str, **fields: Any) -> None:
        for n in rows:
            self.outcome.setdefault(n, {"status": status, **fields})

    def reject(self, rows: Sequence[int], problem: RowError, what: str) -> None:
        for n in rows:
            reason = problem.reason if problem.row in (None, n) else f"{what} not posted: row {problem.row}: {problem.reason}"
            self.settle([n], "rejected", error=reason, field=problem.field or "")

    # -- the run -------------------------------------------------------------------------------------
    def read(self) -> int:
        """Spool every row (a file the reader cannot parse raises :class:`FeedSchemaError` before anything is
        posted); return how many."""
        from airflow.sdk import ObjectStoragePath

        with ObjectStoragePath(self.item["uri"]).open("rb") as stream:
            feed = open_feed(stream, self.config, self.item["name"])
            self.header = feed.header
            return self.spool.fill(feed.rows(), bill_key if self.config.feed == "invoices" else payment_key)

    def post(self) -> None:
        """Post the file a batch of whole bills (or payments) at a time, keeping each batch's outcomes on disk."""
        post = self.post_invoices if self.config.feed == "invoices" else self.post_payments
        for batch in self.spool.batches(GROUPS_PER_BATCH):
            post(batch)
            self.spool.settle(self.outcome)
            self.outcome.clear()

    def post_invoices(self, rows: list[Any]) -> None:
        assembled = assemble_invoices(rows, self.config)
        self._early(assembled)
        bills: list[Invoice] = assembled.records
        self.reference.load("VENDOR", [b.vendor_id for b in bills])
        self.reference.load("GLACCOUNT", [line.account for b in bills for line in b.lines])
        for name, obj in (("department_id", "DEPARTMENT"), ("location_id", "LOCATION"), ("class_id", "CLASS"),
                          ("project_id", "PROJECT")):
            self.reference.load(obj, [line.dimensions[name] for b in bills for line in b.lines if name in line.dimensions])
        ready: list[tuple[Invoice, str, dict[str, Any]]] = []
        for bill in bills:
            try:
                vendor_id, _how = self.reference.vendor(bill.vendor_id, bill.vendor_name, bill.rows[0])
                for line in bill.lines:
                    self.reference.check("GLACCOUNT", line.account, line.row, "gl_account_no")
                    for name, value in line.dimensions.items():
                        self.reference.check_dimension(name, value, line.row)
            except RowError as exc:
                self.reject(bill.rows, exc, f"invoice {bill.number}")
                continue
            ready.append((bill, vendor_id, bill_record(bill, vendor_id, self.op.default_terms)))
        outcomes = self.hook.create_bills([record for _, _, record in ready]) if ready else []
        for (bill, vendor_id, _record), outcome in zip(ready, outcomes):
            found_total = (outcome.found or {}).get("TOTALENTERED")
            if outcome.status == "existing" and found_total not in (None, "") and \
                    abs(Decimal(str(found_total)) - bill.amount) > Decimal("0.005"):
                self.reject(bill.rows, RowError(
                    f"invoice {bill.number} of vendor {vendor_id} is already in Intacct (bill {outcome.record_no}) "
                    f"with total {Decimal(str(found_total)):.2f}, this file says {bill.amount:.2f}: not posted twice; "
                    "correct the bill in Intacct or give this invoice another number"), f"invoice {bill.number}")
                continue
            self._settle_write(bill.rows, outcome, vendor_id, bill.number)

    def post_payments(self, rows: list[Any]) -> None:
        assembled = assemble_payments(rows, self.config)
        self._early(assembled)
        payments: list[Payment] = assembled.records
        self.reference.load("VENDOR", [p.vendor_id for p in payments])
        resolved: list[tuple[Payment, str]] = []
        for payment in payments:
            try:
                resolved.append((payment, self.reference.vendor(payment.vendor_id, payment.vendor_name,
                                                                payment.rows[0])[0]))
            except RowError as exc:
                self.reject(payment.rows, exc, f"payment {payment.reference}")
        bills = self.hook.find_bills(sorted({(vendor_id, a.invoice_number) for p, vendor_id in resolved
                                             for a in p.applications})) if resolved else {}
        ready: list[tuple[Payment, str, dict[str, Any]]] = []
        for payment, vendor_id in resolved:
            missing = next((a for a in payment.applications if (vendor_id, a.invoice_number) not in bills), None)
            if missing is not None:
                self.reject(payment.rows, RowError(
                    f"bill {missing.invoice_number} of vendor {vendor_id} is not in Intacct; post the invoice first, "
                    "then drop this payment again", row=missing.row, field="invoice_number"),
                    f"payment {payment.reference}")
                continue
            numbers = {a.invoice_number: str(bills[(vendor_id, a.invoice_number)]["RECORDNO"])
                       for a in payment.applications}
            ready.append((payment, vendor_id, payment_record(payment, vendor_id, numbers, "")))
        outcomes = self.hook.create_payments([record for _, _, record in ready]) if ready else []
        for (payment, vendor_id, _record), outcome in zip(ready, outcomes):
            self._settle_write(payment.rows, outcome, vendor_id, payment.reference)

    def _early(self, assembled: Any) -> None:
        for n, problem in assembled.rejected.items():
            self.settle([n], "rejected", error=problem.reason, field=problem.field or "")
        for n, reason in assembled.skipped.items():
            self.settle([n], "skipped", error=reason)

    def _settle_write(self, rows: Sequence[int], outcome: WriteOutcome, vendor_id: str, number: str) -> None:
        base = {"vendor": vendor_id, "number": number, "controlid": outcome.controlid, "recordno": outcome.record_no}
        if outcome.ok:
            self.settle(rows, "already_posted" if outcome.status == "existing" else "posted", **base)
        elif is_transient(outcome):
            self.settle(rows, "unfinished", error=intacct_reason(outcome), **base)
        else:
            self.settle(rows, "rejected", error=intacct_reason(outcome), **base)


class StampliPostOperator(BaseOperator):
    """Post the files staged by ``source_task_id`` as AP bills (invoice feed) or AP payments (payment feed).

    :param feed: feed name under include/mappings (templated).
    :param source_task_id: the pick-up task whose XCom lists the staged files.
    :param sftp_conn_id: where error reports are written and files archived (templated).
    :param intacct_conn_id: the Intacct connection (templated).
    :param write_batch_size: creates per Intacct request.
    :param default_terms: TERMNAME for a bill without a due date (else due on the invoice date).
    :param hook_kwargs: passed to :class:`IntacctHook` (retry attempts and pacing, timeouts).
    """

    template_fields: Sequence[str] = ("feed", "sftp_conn_id", "intacct_conn_id")
    ui_color = "#fde9d9"

    def __init__(self, *, feed: str, source_task_id: str, sftp_conn_id: str = "stampli_sftp",
                 intacct_conn_id: str = "intacct_default", write_batch_size: int = 100, default_terms: str = "",
                 hook_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        declare_attention(self)  # work it leaves for a person shows under Required Actions
        self.feed, self.source_task_id = feed, source_task_id
        self.sftp_conn_id, self.intacct_conn_id = sftp_conn_id, intacct_conn_id
        self.write_batch_size, self.default_terms = write_batch_size, default_terms
        self.hook_kwargs = dict(hook_kwargs or {})

    def execute(self, context: Context) -> list[dict[str, Any]]:
        files = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not files:
            raise AirflowSkipException(f"{self.source_task_id} staged no file")
        config = load_named_feed(self.feed)
        hook = IntacctHook(self.intacct_conn_id, **{"write_batch_size": self.write_batch_size, **self.hook_kwargs})
        reference = IntacctReference(hook)
        ledger = InboundLedger()
        summaries = [self._process(config, item, hook, reference, ledger, context) for item in files]
        stuck = [s for s in summaries if s["unfinished"]]
        self.log.info("Intacct requests sent by this task: %s", hook.requests_sent)
        push_alerts(context, [_alert(config, s) for s in summaries if s["rejected"] or s.get("refused")])
        if stuck:
            raise AirflowException(
                "; ".join(f"{s['file']}: {s['unfinished']} row(s) not posted yet ({s['first_error']})" for s in stuck)
                + ". The files stay in the export folder; the next run, or clearing this task, finishes them without "
                  "posting anything twice.")
        return summaries

    def _process(self, config: FeedConfig, item: dict[str, Any], hook: IntacctHook, reference: IntacctReference,
                 ledger: InboundLedger, context: Context) -> dict[str, Any]:
        ledger.mark(item["source"], item["sha256"], item["name"], "processing", context["ti"].run_id)
        with tempfile.TemporaryDirectory(prefix="mlc-stampli-") as folder:
            job = _FileRun(self, config, item, hook, reference, RowSpool(Path(folder)))
            try:
                try:
                    job.read()
                except FeedSchemaError as exc:
                    return self._refuse_file(config, item, exc, ledger, context)
                job.post()
                return self._finish(config, item, job, Path(folder), ledger, context)
            finally:
                job.spool.close()

    def _finish(self, config: FeedConfig, item: dict[str, Any], job: _FileRun, folder: Path, ledger: InboundLedger,
                context: Context) -> dict[str, Any]:
        """Audit every row, write the error report, archive the file when no row is unfinished."""
        name, sha256, run_id = item["name"], item["sha256"], context["ti"].run_id
        counts = {status: 0 for status in ("posted", "already_posted", "rejected", "skipped", "unfinished")}
        first_error = ""
        report_path = folder / "errors.csv"

        def rejected_rows() -> Iterator[tuple[list[str], str]]:
            nonlocal first_error
            for row, result in job.spool.settled():
                counts[result["status"]] += 1
                if result["status"] == "unfinished" and not first_error:
                    first_error = result.get("error") or ""
                values = row.values
                # What AP looks a row up by, on every row, rejected ones too: the vendor as the file names it and
                # as Intacct knows it, the amount, the GL account, where it came from, the request that carried it.
                audit(f"row_{result['status']}", context, logger=self.log, file=name, row=row.number,
                      vendor=result.get("vendor") or "", vendor_id=values.get("vendor_id", ""),
                      vendor_name=values.get("vendor_name", ""), invoice_number=values.get("invoice_number", ""),
                      amount=values.get("amount", ""), gl_account=values.get("gl_account_no", ""),
                      **({"reference": result.get("number") or ""} if config.feed == "payments" else {}),
                      controlid=result.get("controlid") or "", recordno=result.get("recordno") or "",
                      status=result["status"], field=result.get("field") or None, error=result.get("error") or None)
                if result["status"] == "rejected":
                    field = f"{result['field']}: " if result.get("field") else ""
                    yield row.cells, f"row {row.number}: {field}{result['error']}"

        with report_path.open("wb") as out:
            rejected = write_error_report(out, config, job.header, rejected_rows(), job.spool.widest)
        summary: dict[str, Any] = {"file": name, "sha256": sha256, "rows": sum(counts.values()), **counts,
                                   "first_error": first_error}
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn():
            if rejected:
                stem = name.rsplit(".", 1)[0]
                report_sha, report_size = _sha256_of(report_path)
                report = hook.put_atomic(lambda: report_path.open("rb"), remote_folder(config.error_dir),
                                         f"{stem}_errors_{sha256[:8]}.csv", sha256=report_sha, size=report_size,
                                         replace=True).path
                summary["error_report"] = report
                audit("error_report_written", context, logger=self.log, file=name, remote_path=report, rows=rejected)
            if summary["unfinished"]:
                return summary
            ledger.mark(item["source"], sha256, name, "done", run_id, rows=summary["rows"], posted=counts["posted"]
                        + counts["already_posted"], rejected=counts["rejected"], skipped=counts["skipped"],
                        report=summary.get("error_report"))
            archive = remote_folder(config.archive_dir)
            if posixpath.dirname(item["remote_path"]) != archive:
                summary["archived"] = hook.move_aside(item["remote_path"], archive, sha256)
        audit("file_processed", context, logger=self.log, file=name, sha256=sha256, feed=config.feed,
              **{k: summary[k] for k in ("rows", *counts)}, archived=summary.get("archived"))
        return summary

    def _refuse_file(self, config: FeedConfig, item: dict[str, Any], exc: FeedSchemaError, ledger: InboundLedger,
                     context: Context) -> dict[str, Any]:
        """A file that cannot be read at all: moved to the error folder with a note; nothing posted."""
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn():
            errors = remote_folder(config.error_dir)
            note = hook.put_atomic(f"{exc}\n".encode(), errors, f"{item['name']}.reason.txt", replace=True).path
            moved = hook.move_aside(item["remote_path"], errors, item["sha256"])
        ledger.mark(item["source"], item["sha256"], item["name"], "rejected", context["ti"].run_id, rows=0, report=note)
        audit("file_rejected", context, logger=self.log, file=item["name"], sha256=item["sha256"], moved_to=moved,
              reason=exc.reason)
        return {"file": item["name"], "sha256": item["sha256"], "rows": 0, "posted": 0, "already_posted": 0,
                "rejected": 0, "skipped": 0, "unfinished": 0, "refused": exc.reason, "moved_to": moved}


def _alert(config: FeedConfig, summary: dict[str, Any]) -> dict[str, str]:
    """What AP must do about a file with rejected rows, or a file refused whole."""
    if summary.get("refused"):
        return {"what": f"Stampli {config.feed} file {summary['file']} was refused whole: {summary['refused']}",
                "do": f"It was moved to {summary.get('moved_to')} with a .reason.txt. Export it again from Stampli in "
                      "the agreed layout; nothing of it was posted."}
    return {"what": f"{summary['rejected']} of {summary['rows']} row(s) of Stampli {config.feed} file {summary['file']} "
                    f"were rejected by the checks or by Intacct",
            "do": f"Open the error report {summary.get('error_report')} (one line per row, with the reason), correct "
                  "the rows in Stampli or Intacct and export them again; the rows already posted are not posted "
                  "twice."}
