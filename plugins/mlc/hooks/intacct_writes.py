"""Writing to Intacct without ever creating a record twice (reference/intacct.md, 6.3).

For each record a business key (vendor + bill number; vendor + payment reference):

1. look it up first: found means done, never re-created;
2. send the create with ``uniqueid=true`` and a function controlid derived from the key and the
   payload, several creates per request (``transaction=false``: one bad bill does not sink the
   others);
3. when the answer is lost (524, read timeout, dropped connection) or the gateway says the same
   controlid is in process or already recorded: look the keys up again, and resend only what is
   still missing, with the same controlids;
4. a permanent failure (unknown vendor, bad GL account) is reported per record with Intacct's
   errorno and text; the other records still go through.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from mlc.hooks.intacct_reads import chunked
from mlc.hooks.retry import RetryPolicy
from mlc.hooks.intacct_xml import MAX_IN_VALUES, ErrorDetail, Filter, IntacctError, IntacctTransportError, Result, create

log = logging.getLogger(__name__)

BillKey = tuple[str, str]  # (VENDORID, RECORDID)
PaymentKey = tuple[str, str]  # (VENDORID, DOCNUMBER)


@dataclass
class WriteOutcome:
    """What happened to one record: ``created``, ``existing`` (found before sending), ``recovered``
    (an answer was lost, the read-back found it) or ``failed`` (``error`` says why)."""

    key: tuple[str, ...]
    status: str
    record_no: str | None = None
    controlid: str = ""
    error: IntacctError | None = None
    found: dict[str, Any] | None = None  # the record Intacct already held (existing, recovered)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def function_controlid(obj: str, key: Sequence[str], record: Mapping[str, Any]) -> str:
    """Deterministic controlid: the same record under the same key always gets the same one."""
    payload = json.dumps([list(key), record], sort_keys=True, default=str).encode()
    return f"mlc-{obj.lower()}-{hashlib.sha256(payload).hexdigest()[:40]}"


def _two_places(value: Any) -> Any:
    try:
        return str(Decimal(str(value).strip()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return value  # the gateway names the field


def _round_lines(record: Mapping[str, Any], group: str, line: str, amount: str) -> dict[str, Any]:
    out = dict(record)
    container = out.get(group)
    if isinstance(container, Mapping):
        lines = container.get(line)
        lines = [lines] if isinstance(lines, Mapping) else list(lines or [])
        out[group] = {line: [dict(item, **{amount: _two_places(item[amount])}) if item.get(amount) is not None else item
                             for item in lines]}
    return out


class IntacctWrites:
    """Write operations of :class:`mlc.hooks.intacct.IntacctHook` (needs ``call``, ``iter_query``, ``retry_policy``)."""

    write_batch_size: int
    retry_policy: RetryPolicy

    def call(self, functions: Sequence[Any], **kwargs: Any) -> list[Result]:  # pragma: no cover - the hook's
        raise NotImplementedError

    def iter_query(self, obj: str, fields: Sequence[str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError

    # -- look-ups ----------------------------------------------------------------------------------
    def _find(self, obj: str, id_field: str, keys: Sequence[tuple[str, str]], fields: Sequence[str],
              extra: Filter | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        wanted = set(keys)
        numbers = sorted({number for _, number in keys})
        for chunk in chunked(numbers, MAX_IN_VALUES):
            condition: Filter = ("in", id_field, list(chunk))
            for record in self.iter_query(obj, fields, filter=("and", [condition, extra]) if extra else condition,
                                          order_by=(("RECORDNO", "asc"),)):
                key = (record.get("VENDORID", ""), record.get(id_field, ""))
                if key in wanted and key not in found:
                    found[key] = record
        return found

    def find_bills(self, keys: Sequence[BillKey]) -> dict[BillKey, dict[str, Any]]:
        """Existing bills by (VENDORID, RECORDID): RECORDNO, STATE, TOTALENTERED, TOTALDUE."""
        return self._find("APBILL", "RECORDID", keys,
                          ("RECORDNO", "VENDORID", "RECORDID", "STATE", "TOTALENTERED", "TOTALDUE", "CURRENCY"))

    def find_payments(self, keys: Sequence[PaymentKey]) -> dict[PaymentKey, dict[str, Any]]:
        """Existing payments by (VENDORID, DOCNUMBER)."""
        return self._find("APPYMT", "DOCNUMBER", keys,
                          ("RECORDNO", "VENDORID", "DOCNUMBER", "STATE", "TOTALENTERED", "WHENCREATED"))

    # -- creates -----------------------------------------------------------------------------------
    def create_bills(self, bills: Sequence[Mapping[str, Any]]) -> list[WriteOutcome]:
        """Create APBILLs (``VENDORID``, ``RECORDID``, ``WHENCREATED``, ``APBILLITEMS``...) once each."""
        items = [((str(b.get("VENDORID", "")), str(b.get("RECORDID", ""))),
                  _round_lines(b, "APBILLITEMS", "APBILLITEM", "TRX_AMOUNT")) for b in bills]
        return self._create_once("APBILL", items, self.find_bills)

    def create_payments(self, payments: Sequence[Mapping[str, Any]]) -> list[WriteOutcome]:
        """Create APPYMTs (details carry the bill's RECORDNO as ``RECORDKEY``) once each."""
        items = [((str(p.get("VENDORID", "")), str(p.get("DOCNUMBER", ""))),
                  _round_lines(p, "APPYMTDETAILS", "APPYMTDETAIL", "TRX_PAYMENTAMOUNT")) for p in payments]
        return self._create_once("APPYMT", items, self.find_payments)

    def _create_once(self, obj: str, items: Sequence[tuple[tuple[str, str], dict[str, Any]]],
                     finder: Callable[[Sequence[tuple[str, str]]], dict[tuple[str, str], dict[str, Any]]]
                     ) -> list[WriteOutcome]:
        outcomes: dict[tuple[str, str], WriteOutcome] = {}
        for key, _record in items:
            if not all(key):
                outcomes[key] = WriteOutcome(key, "failed", error=IntacctError("result", [ErrorDetail(
                    "MLC-KEY", f"{obj} needs VENDORID and its number to be written idempotently", "",
                    "Fill in both fields")], function="create"))
        existing = finder([key for key, _ in items if key not in outcomes])
        pending: dict[str, tuple[tuple[str, str], dict[str, Any]]] = {}
        for key, record in items:
            if key in outcomes:
                continue
            if key in existing:
                outcomes[key] = WriteOutcome(key, "existing", existing[key].get("RECORDNO"), found=existing[key])
                continue
            if key in {k for k, _ in pending.values()}:
                continue  # the same business key twice in one batch: created once
            pending[function_controlid(obj, key, record)] = (key, record)
        if existing:
            log.info("Intacct %s: %s record(s) already present, not created again", obj, len(existing))
        attempt, last_error = 0, None
        while pending:
            attempt += 1
            uncertain = False
            for batch in chunked(list(pending.items()), self.write_batch_size):
                try:
                    results = self.call([create(cid, obj, record) for cid, (_key, record) in batch], unique_id=True,
                                        raise_failures=False, is_write=True, record_tags=(obj.lower(), obj.upper()))
                except (IntacctTransportError, IntacctError) as exc:
                    log.warning("Intacct %s: no usable answer for %s create(s) (%s); reading back before any resend",
                                obj, len(batch), exc)
                    last_error, uncertain = exc, True
                    continue
                for (cid, (key, _record)), result in zip(batch, results):
                    if result.ok:
                        record_no = (result.records[0].get("RECORDNO") if result.records else None) or result.key
                        outcomes[key] = WriteOutcome(key, "created", record_no, cid)
                        del pending[cid]
                        continue
                    error = result.error()
                    text = " ".join(e.text() for e in error.errors).lower()
                    if error.in_process or "already been recorded" in text:
                        uncertain = True
                    elif not error.retryable:
                        outcomes[key] = WriteOutcome(key, "failed", controlid=cid, error=error)
                        del pending[cid]
                    last_error = error
            if not pending:
                break
            if attempt >= self.retry_policy.attempts:
                for cid, (key, _record) in pending.items():
                    outcomes[key] = WriteOutcome(key, "failed", controlid=cid, error=last_error if isinstance(
                        last_error, IntacctError) else IntacctError("result", [ErrorDetail(
                            "MLC-RETRY", f"gave up after {attempt} attempts: {last_error}", "", "")], controlid=cid))
                break
            self.retry_policy.sleep(attempt, last_error)
            if uncertain:
                found = finder([key for key, _ in pending.values()])
                for cid, (key, _record) in list(pending.items()):
                    if key in found:
                        outcomes[key] = WriteOutcome(key, "recovered", found[key].get("RECORDNO"), cid, found=found[key])
                        del pending[cid]
                if found:
                    log.info("Intacct %s: %s create(s) had been applied although the answer was lost", obj, len(found))
        return [outcomes[key] for key, _ in items]
