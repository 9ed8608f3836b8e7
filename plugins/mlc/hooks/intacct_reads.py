"""Reading from Intacct: pages streamed as iterators, incremental windows without gaps or repeats.

* ``query`` (pages of up to 2,000) is the workhorse. Incremental reads page by *keyset* on
  (WHENMODIFIED, RECORDNO) instead of offsets: a record another user edits while we page moves
  out of the window instead of shifting the pages under us, so nothing is skipped; and since the
  order is strict, a record seen twice is recognised without remembering every key.
* Windows are [since - overlap, until): Intacct timestamps have no time zone, so bounds are
  written in the company's time zone (``timezone`` extra) and the overlap absorbs clock skew;
  the consumer deduplicates across runs on RECORDNO (MERGE, ledgers).
* Bills come with their lines, payments with the bills they pay: one child query per page of
  parents (``RECORDKEY in`` the page's keys, in chunks of 1,000), so 10,000 bills of 3 lines take
  5 + 15 requests, the page-size floor.
* ``readByQuery``/``readMore`` (pages of up to 1,000) where ``query`` cannot serve, e.g. a filter
  written in readByQuery's own syntax.
* A page is checked against its own counts before it is believed: an empty page while
  ``numremaining`` is above 0, or records that do not add up to ``totalcount``, is asked for again
  (the retry policy's attempts and waits) and, if it stays wrong, fails the read; it is never taken
  as the end of the data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from mlc.hooks.intacct_xml import (MAX_IN_VALUES, MAX_QUERY_PAGE, MAX_READ_BY_QUERY_PAGE, Filter, IntacctProtocolError,
                                   Result)
from mlc.hooks.intacct_xml import query as query_fn
from mlc.hooks.intacct_xml import read as read_fn
from mlc.hooks.intacct_xml import read_by_query, read_more

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from mlc.hooks.retry import RetryPolicy

log = logging.getLogger(__name__)

WHEN_FORMAT = "%m/%d/%Y %H:%M:%S"
_WHEN = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})(?: ([0-9]{2}):([0-9]{2}):([0-9]{2}))?")
CONTACT = "DISPLAYCONTACT"
FIELDS: dict[str, tuple[str, ...]] = {
    "VENDOR": ("RECORDNO", "VENDORID", "NAME", "STATUS", "VENDTYPE", "TERMNAME", "TAXID", "CURRENCY", "ONHOLD",
               "CREDITLIMIT", "TOTALDUE", f"{CONTACT}.PRINTAS", f"{CONTACT}.EMAIL1", f"{CONTACT}.PHONE1",
               f"{CONTACT}.MAILADDRESS.ADDRESS1", f"{CONTACT}.MAILADDRESS.ADDRESS2", f"{CONTACT}.MAILADDRESS.CITY",
               f"{CONTACT}.MAILADDRESS.STATE", f"{CONTACT}.MAILADDRESS.ZIP", f"{CONTACT}.MAILADDRESS.COUNTRY",
               f"{CONTACT}.MAILADDRESS.COUNTRYCODE", f"{CONTACT}.CONTACTNAME", f"{CONTACT}.FIRSTNAME",
               f"{CONTACT}.LASTNAME", "WHENCREATED", "WHENMODIFIED"),
    "APBILL": ("RECORDNO", "RECORDID", "DOCNUMBER", "STATE", "VENDORID", "VENDORNAME", "TERMNAME", "WHENCREATED",
               "WHENPOSTED", "WHENDUE", "WHENPAID", "BASECURR", "CURRENCY", "TOTALENTERED", "TOTALPAID", "TOTALDUE",
               "DESCRIPTION", "WHENMODIFIED"),
    "APBILLITEM": ("RECORDNO", "RECORDKEY", "LINE_NO", "ACCOUNTNO", "ACCOUNTTITLE", "AMOUNT", "TRX_AMOUNT",
                   "ENTRYDESCRIPTION", "DEPARTMENTID", "LOCATIONID", "CLASSID", "PROJECTID", "WHENMODIFIED"),
    "APPYMT": ("RECORDNO", "FINANCIALENTITY", "PAYMENTMETHOD", "VENDORID", "VENDORNAME", "DOCNUMBER", "DESCRIPTION",
               "WHENCREATED", "STATE", "CURRENCY", "TOTALENTERED", "WHENMODIFIED"),
    "APPYMTDETAIL": ("RECORDNO", "PAYMENTKEY", "RECORDKEY", "ENTRYKEY", "TRX_PAYMENTAMOUNT", "WHENMODIFIED"),
    "GLACCOUNT": ("RECORDNO", "ACCOUNTNO", "TITLE", "ACCOUNTTYPE", "NORMALBALANCE", "CLOSINGTYPE", "STATUS",
                  "CATEGORY", "WHENMODIFIED"),
    "DEPARTMENT": ("RECORDNO", "DEPARTMENTID", "TITLE", "PARENTID", "STATUS", "WHENMODIFIED"),
    "LOCATION": ("RECORDNO", "LOCATIONID", "NAME", "PARENTID", "STATUS", "CURRENCY", "WHENMODIFIED"),
    "CLASS": ("RECORDNO", "CLASSID", "NAME", "DESCRIPTION", "PARENTID", "STATUS", "WHENMODIFIED"),
}


def dimension_fields(name: str) -> tuple[str, ...]:
    """Fields of a dimension object: the known ones, else the usual shape of a custom one."""
    name = name.upper()
    return FIELDS.get(name, ("RECORDNO", f"{name}ID", "NAME", "STATUS", "WHENMODIFIED"))


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def page_problem(result: Result, offset: int) -> str | None:
    """What is wrong with a ``query`` page by its own counts, or ``None``: records missing from what ``count``
    says, an empty page while records remain, or records that do not add up to ``totalcount``."""
    if "totalcount" not in result.data:
        return None
    got, remaining, total = len(result.records), result.count("numremaining"), result.count("totalcount")
    if "count" in result.data and result.count("count") != got:
        return f"{got} record(s) where count says {result.count('count')}"
    if got == 0 and remaining > 0:
        return f"an empty page while numremaining is {remaining}"
    if offset + got + remaining != total:
        return f"offset {offset} + {got} record(s) + {remaining} remaining is not the totalcount {total}"
    return None


class IntacctReads:
    """Read operations of :class:`mlc.hooks.intacct.IntacctHook` (needs ``call`` and ``tz``)."""

    tz: ZoneInfo
    retry_policy: RetryPolicy

    def call(self, functions: Sequence[Any], **kwargs: Any) -> list[Result]:  # pragma: no cover - provided by the hook
        raise NotImplementedError

    # -- time ----------------------------------------------------------------------------------------
    def format_when(self, moment: datetime) -> str:
        """An aware moment as Intacct writes timestamps: local to the company, no zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(self.tz).strftime(WHEN_FORMAT)

    def before_fold(self, moment: datetime) -> datetime:
        """``moment``, moved back across a repeated hour when the company's clock was set back within the hour
        before it (daylight saving ends): the records of the repeated hour carry wall-clock times from before the
        bound and would be missed; reading the hour twice is harmless (records are deduplicated by key)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        earlier = (moment - timedelta(hours=1)).astimezone(self.tz).utcoffset() or timedelta(0)
        now = moment.astimezone(self.tz).utcoffset() or timedelta(0)
        return moment - (earlier - now) if earlier > now else moment

    def parse_when(self, text: str | None) -> datetime | None:
        """``mm/dd/yyyy[ HH:MM:SS]`` in the company's zone as an aware UTC datetime (``None`` when empty)."""
        if not text or not text.strip():
            return None
        text = text.strip()
        if (parts := _WHEN.fullmatch(text)) is not None:  # the usual shape, without strptime
            try:
                month, day, year, hour, minute, second = (int(p) if p else 0 for p in parts.groups())
                return datetime(year, month, day, hour, minute, second, tzinfo=self.tz).astimezone(timezone.utc)
            except ValueError:
                pass  # strptime below says what is wrong
        for fmt in (WHEN_FORMAT, "%m/%d/%Y"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self.tz).astimezone(timezone.utc)
            except ValueError:
                continue
        raise ValueError(f"{text!r} is not an Intacct date or timestamp (mm/dd/yyyy[ HH:MM:SS])")

    # -- query ---------------------------------------------------------------------------------------
    def query_page(self, obj: str, fields: Sequence[str], *, filter: Filter | None = None,  # noqa: A002
                   order_by: Sequence[tuple[str, str]] = (("RECORDNO", "asc"),), pagesize: int = MAX_QUERY_PAGE,
                   offset: int = 0) -> Result:
        """One page of ``query``, checked against its own counts (asked for again while they do not add up)."""
        function = query_fn(f"query-{obj.lower()}-{offset}", obj, fields, filter=filter, order_by=order_by,
                            pagesize=pagesize, offset=offset)
        what = f"query {obj} page at offset {offset}"
        attempt = 0
        while True:
            attempt += 1
            result = self.call([function], record_tags=(obj.upper(), obj.lower()), what=what)[0]
            problem = page_problem(result, offset)
            if problem is None:
                return result
            if attempt >= self.retry_policy.attempts:
                raise IntacctProtocolError(f"Intacct {what}: {problem}, {attempt} times: the read stops rather than "
                                           "take a short page for the end of the data")
            log.warning("Intacct %s: %s; asking for the page again (attempt %s of %s)", what, problem, attempt,
                        self.retry_policy.attempts)
            self.retry_policy.sleep(attempt)

    def iter_query_pages(self, obj: str, fields: Sequence[str] | None = None, *, filter: Filter | None = None,  # noqa: A002
                         order_by: Sequence[tuple[str, str]] = (("RECORDNO", "asc"),),
                         pagesize: int = MAX_QUERY_PAGE) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``query`` by offset (for sets that do not change while read: lines of given bills)."""
        fields = fields or dimension_fields(obj)
        offset = 0
        while True:
            result = self.query_page(obj, fields, filter=filter, order_by=order_by, pagesize=pagesize, offset=offset)
            if result.records:
                yield result.records
            offset += len(result.records)
            if not result.records or result.count("numremaining") == 0:
                return

    def iter_query(self, obj: str, fields: Sequence[str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.iter_query_pages(obj, fields, **kwargs):
            yield from page

    def iter_changed_pages(self, obj: str, fields: Sequence[str] | None = None, *, since: datetime | None = None,
                           until: datetime | None = None, overlap: timedelta = timedelta(0),
                           filter: Filter | None = None, pagesize: int = MAX_QUERY_PAGE  # noqa: A002
                           ) -> Iterator[list[dict[str, Any]]]:
        """Records with WHENMODIFIED in [since - overlap, until), by keyset pages, each record once."""
        fields = list(fields or dimension_fields(obj))
        for needed in ("RECORDNO", "WHENMODIFIED"):
            if needed not in fields:
                fields.append(needed)
        bounds: list[Filter] = []
        if since is not None:
            bounds.append(("greaterthanorequalto", "WHENMODIFIED", self.format_when(self.before_fold(since - overlap))))
        if until is not None:
            bounds.append(("lessthan", "WHENMODIFIED", self.format_when(until)))
        if filter:
            bounds.append(filter)
        last: tuple[datetime, int] | None = None
        last_text: tuple[str, str] | None = None
        repeats = 0
        while True:
            conditions = list(bounds)
            if last_text is not None:
                conditions.append(("or", [("greaterthan", "WHENMODIFIED", last_text[0]),
                                          ("and", [("equalto", "WHENMODIFIED", last_text[0]),
                                                   ("greaterthan", "RECORDNO", last_text[1])])]))
            result = self.query_page(obj, fields, filter=("and", conditions) if conditions else None,
                                     order_by=(("WHENMODIFIED", "asc"), ("RECORDNO", "asc")), pagesize=pagesize)
            page = []
            for record in result.records:
                key = (self.parse_when(record.get("WHENMODIFIED")) or datetime.min.replace(tzinfo=timezone.utc),
                       int(record.get("RECORDNO") or 0))
                if last is not None and key <= last:
                    repeats += 1  # the gateway gave back something at or before the keyset position
                    continue
                last, last_text = key, (record.get("WHENMODIFIED") or "", str(key[1]))
                page.append(record)
            if page:
                yield page
            if not page or result.count("numremaining") == 0:
                break
        if repeats:
            log.info("Intacct %s: %s repeated record(s) dropped while paging", obj, repeats)

    def iter_changed(self, obj: str, fields: Sequence[str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.iter_changed_pages(obj, fields, **kwargs):
            yield from page

    # -- records with their lines --------------------------------------------------------------------------
    def iter_owned(self, obj: str, child: str, parent_key: str, group: str, *, order: str,
                   since: datetime | None = None, until: datetime | None = None, overlap: timedelta = timedelta(0),
                   fields: Sequence[str] | None = None, child_fields: Sequence[str] | None = None,
                   filter: Filter | None = None, pagesize: int = MAX_QUERY_PAGE  # noqa: A002
                   ) -> Iterator[dict[str, Any]]:
        """``obj`` records changed in the window, each with its ``child`` records as ``{group: {child: [...]}}``:
        one child query per page of parents (``parent_key in`` the page's keys, in chunks of 1,000)."""
        child_fields = list(child_fields or FIELDS[child])
        for needed in (parent_key, order):
            if needed not in child_fields:
                child_fields.append(needed)
        for parents in self.iter_changed_pages(obj, fields, since=since, until=until, overlap=overlap,
                                               filter=filter, pagesize=pagesize):
            keys = [parent["RECORDNO"] for parent in parents]
            ins: list[Filter] = [("in", parent_key, list(chunk)) for chunk in chunked(keys, MAX_IN_VALUES)]
            children: dict[str, list[dict[str, Any]]] = {}
            for page in self.iter_query_pages(child, child_fields, filter=ins[0] if len(ins) == 1 else ("or", ins),
                                              order_by=((parent_key, "asc"), (order, "asc")), pagesize=pagesize):
                for record in page:
                    children.setdefault(record[parent_key], []).append(record)
            for parent in parents:
                parent[group] = {child: children.get(parent["RECORDNO"], [])}
                yield parent

    def iter_bills(self, *, line_fields: Sequence[str] | None = None, **window: Any) -> Iterator[dict[str, Any]]:
        """APBILL records changed in the window, each with ``APBILLITEMS: {"APBILLITEM": [lines]}``."""
        return self.iter_owned("APBILL", "APBILLITEM", "RECORDKEY", "APBILLITEMS", order="LINE_NO",
                               child_fields=line_fields, **window)

    def iter_payments(self, **window: Any) -> Iterator[dict[str, Any]]:
        """APPYMT records changed in the window, each with the bills it pays:
        ``APPYMTDETAILS: {"APPYMTDETAIL": [applications]}`` (RECORDKEY = the bill's RECORDNO)."""
        return self.iter_owned("APPYMT", "APPYMTDETAIL", "PAYMENTKEY", "APPYMTDETAILS", order="RECORDNO", **window)

    # -- readByQuery -----------------------------------------------------------------------------------
    def iter_read_by_query(self, obj: str, fields: Sequence[str] | str = "*", where: str = "",
                           pagesize: int = MAX_READ_BY_QUERY_PAGE) -> Iterator[dict[str, Any]]:
        """readByQuery then readMore until nothing remains. ``where`` compares stored codes (STATE = 'A').

        A resultId is short-lived: if readMore fails, the error is raised and the caller starts
        again from its last watermark rather than trusting a half-read result set.
        """
        tags = (obj.upper(), obj.lower())
        result = self.call([read_by_query(f"rbq-{obj.lower()}", obj, fields, where, pagesize)], record_tags=tags)[0]
        yield from result.records
        page = 1
        while result.count("numremaining") > 0 and result.data.get("resultId"):
            result = self.call([read_more(f"readmore-{page}", result.data["resultId"])], record_tags=tags,
                               what=f"readMore {obj} page {page + 1}")[0]
            page += 1
            if not result.records and result.count("numremaining") > 0:  # a readMore cannot be asked again
                raise IntacctProtocolError(f"Intacct readMore {obj} page {page}: an empty page while numremaining is "
                                           f"{result.count('numremaining')}: read again from the start")
            yield from result.records

    def read_records(self, obj: str, keys: Sequence[Any], fields: Sequence[str] | str = "*") -> list[dict[str, Any]]:
        """``read`` by RECORDNO, 100 keys per function, several functions per request."""
        functions = [read_fn(f"read-{obj.lower()}-{i}", obj, chunk, fields) for i, chunk in enumerate(chunked(list(keys), 100))]
        records: list[dict[str, Any]] = []
        for batch in chunked(functions, 10):
            for result in self.call(batch, record_tags=(obj.upper(), obj.lower())):
                records.extend(result.records)
        return records

    # -- deletes ---------------------------------------------------------------------------------------
    def iter_deleted(self, obj: str, *, since: datetime, until: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Deletions of ``obj`` recorded in AUDITHISTORY in the window: ``{"RECORDNO", "DELETED_AT"}``.

        Needs the audit-trail permission. ACCESSMODE is matched as the word and the letter,
        since companies are seen answering both.
        """
        conditions: list[Filter] = [("equalto", "OBJECTTYPE", obj.lower()), ("in", "ACCESSMODE", ["Delete", "D"]),
                                    ("greaterthanorequalto", "ACCESSTIME", self.format_when(since))]
        if until is not None:
            conditions.append(("lessthan", "ACCESSTIME", self.format_when(until)))
        for record in self.iter_query("AUDITHISTORY", ("ID", "OBJECTTYPE", "OBJECTKEY", "ACCESSMODE", "ACCESSTIME"),
                                      filter=("and", conditions), order_by=(("ID", "asc"),)):
            key = (record.get("OBJECTKEY") or "").split("--", 1)[0].strip()
            if key:
                yield {"RECORDNO": key, "DELETED_AT": record.get("ACCESSTIME")}
