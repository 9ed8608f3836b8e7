"""The Sage Intacct XML gateway protocol (DTD 3.0): requests out, responses in, errors typed.

No Airflow and no I/O here: :mod:`mlc.hooks.intacct` does the HTTP, the sessions and the retries.
What this module guarantees:

* Requests are built with lxml (so text is escaped) after the characters XML 1.0 forbids have
  been stripped; otherwise the gateway answers "XML Parse schema error" for one stray control
  character in a vendor name.
* Responses are parsed with entity resolution, DTD loading and network access off; a DOCTYPE
  anywhere in the prolog is refused outright (Intacct never sends one), and so is an answer over a
  size limit. Characters XML 1.0 forbids (control characters sent as references or raw bytes) are
  taken out before parsing (:mod:`mlc.hooks.intacct_clean`) and each record that held one says so
  in :attr:`Result.cleaned`; an answer that still does not parse is :class:`IntacctMalformedAnswer`,
  never retried, naming the request and the byte. Records are turned into dicts as they are parsed
  and their elements dropped, so a 2,000-record page never sits in memory as a tree.
* The three status levels (control, authentication, each result) are checked; a failure becomes
  an :class:`IntacctError` carrying errorno, description, description2, correction and the
  function's controlid, with a ``retryable`` verdict from the reference's error table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lxml import etree

from mlc.hooks.intacct_clean import MARK, AnswerCleaner, take_marks

DTD_VERSION = "3.0"
MAX_QUERY_PAGE = 2000
MAX_READ_BY_QUERY_PAGE = 1000
MAX_IN_VALUES = 1000

# Characters XML 1.0 does not allow (C0 controls but TAB/LF/CR, surrogates, U+FFFE/U+FFFF).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """``value`` as text that may go into an XML element (forbidden characters removed)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _ILLEGAL_XML.sub("", str(value))


# -- errors --------------------------------------------------------------------------------------
TRANSIENT_ERRNOS = frozenset({"GW-0010", "200024"})
TRANSIENT_TEXT = ("too many operations running", "temporarily off-line", "temporarily offline",
                  "please try again later", "api rate limit exceeded", "rate limit")
IN_PROCESS_TEXT = "is in process"
SESSION_ERRNOS = frozenset({"XMLGW_JPP0002", "UJPP0002"})


@dataclass
class ErrorDetail:
    errorno: str = ""
    description: str = ""
    description2: str = ""
    correction: str = ""

    def text(self) -> str:
        return " ".join(part for part in (self.errorno, self.description, self.description2, self.correction) if part)


class IntacctError(Exception):
    """A failure reported by the gateway, at ``level`` control, authentication or result.

    Carries every ``<error>`` of the answer; ``errorno`` & co. are the first (most specific) one.
    Messages never contain credentials or session ids: only what the gateway said about them.
    """

    def __init__(self, level: str, errors: Sequence[ErrorDetail], *, controlid: str = "", function: str = "",
                 http_status: int | None = None, status: str = "failure") -> None:
        self.level, self.errors, self.controlid, self.function = level, list(errors) or [ErrorDetail()], controlid, function
        self.http_status, self.status = http_status, status
        first = self.errors[0]
        self.errorno, self.description = first.errorno, first.description
        self.description2, self.correction = first.description2, first.correction
        where = f" in {function} (controlid {controlid})" if function or controlid else ""
        detail = "; ".join(e.text() for e in self.errors if e.text()) or "no error details given"
        super().__init__(f"Intacct {level} {status}{where}: {detail}")

    @property
    def retryable(self) -> bool:
        """Transient per the reference: rate limits, concurrency, off-line, 'try again later'."""
        if self.http_status == 429:
            return True
        for error in self.errors:
            if error.errorno in TRANSIENT_ERRNOS:
                return True
            text = error.text().lower()
            if any(marker in text for marker in TRANSIENT_TEXT):
                return True
        return False

    @property
    def in_process(self) -> bool:
        """The same function controlid is still running at the gateway: wait, then read back."""
        return any(IN_PROCESS_TEXT in e.text().lower() for e in self.errors)

    @property
    def invalid_session(self) -> bool:
        """The session is no longer valid: one fresh login, then one retry."""
        if self.level == "authentication":
            return True
        return self.level == "control" and (self.http_status == 401 or any(e.errorno in SESSION_ERRNOS for e in self.errors))


class IntacctTransportError(Exception):
    """No usable XML answer: an HTTP error page, a Cloudflare page, a timeout, a cut connection.

    ``maybe_applied`` is true when a write may have been committed although no answer came back
    (524, read timeout, connection dropped after sending): such a write is read back, not resent.
    """

    def __init__(self, message: str, *, http_status: int | None = None, retryable: bool = True,
                 maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.http_status, self.retryable, self.maybe_applied = http_status, retryable, maybe_applied


class IntacctProtocolError(Exception):
    """An answer that is not what the gateway sends: refused, never retried (DOCTYPE, too big, ...)."""


class IntacctMalformedAnswer(IntacctTransportError):
    """An answer that does not parse even with the forbidden characters taken out. The same page comes
    back on a retry, so a read is not retried; a write may have been applied and is read back."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message, http_status=http_status, retryable=False, maybe_applied=True)


# -- requests ------------------------------------------------------------------------------------
@dataclass
class Function:
    """One ``<function controlid=...>`` with its body element."""

    body: etree._Element
    controlid: str

    @property
    def name(self) -> str:
        return self.body.tag


def _el(tag: str, text: Any = None, children: Iterable[etree._Element] = ()) -> etree._Element:
    node = etree.Element(tag)
    if text is not None:
        node.text = xml_text(text)
    for child in children:
        node.append(child)
    return node


def record_element(tag: str, record: Mapping[str, Any]) -> etree._Element:
    """``{"VENDORID": "V1", "APBILLITEMS": {"APBILLITEM": [{...}, {...}]}}`` as XML; ``None`` is left out."""
    node = etree.Element(tag)
    for key, value in record.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            node.append(record_element(key, value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                node.append(record_element(key, item) if isinstance(item, Mapping) else _el(key, item))
        else:
            node.append(_el(key, value))
    return node


def get_api_session(controlid: str, location_id: str | None = None) -> Function:
    body = _el("getAPISession")
    if location_id is not None:
        body.append(_el("locationid", location_id))
    return Function(body, controlid)


Filter = tuple  # ("and", [Filter, ...]) | ("equalto", field, value) | ("in", field, [values]) | ("isnull", field)


def filter_element(spec: Filter) -> etree._Element:
    """The ``<filter>`` DSL of ``query`` from nested tuples (see :data:`Filter`)."""
    op = spec[0]
    if op in ("and", "or"):
        parts = [p for p in spec[1] if p]
        if len(parts) == 1:
            return filter_element(parts[0])
        if not parts:
            raise ValueError(f"{op} needs at least one condition")
        return _el(op, children=[filter_element(p) for p in parts])
    if op in ("isnull", "isnotnull"):
        return _el(op, children=[_el("field", spec[1])])
    if op in ("in", "notin", "between"):
        values = list(spec[2])
        if op != "between" and not 1 <= len(values) <= MAX_IN_VALUES:
            raise ValueError(f"{op} takes 1..{MAX_IN_VALUES} values, not {len(values)}")
        return _el(op, children=[_el("field", spec[1]), *(_el("value", v) for v in values)])
    return _el(op, children=[_el("field", spec[1]), _el("value", spec[2])])


def query(controlid: str, obj: str, fields: Sequence[str], *, filter: Filter | None = None,  # noqa: A002
          order_by: Sequence[tuple[str, str]] = (), pagesize: int = MAX_QUERY_PAGE, offset: int = 0,
          case_insensitive: bool = False) -> Function:
    """The generic ``query`` function (pagesize 1..2000, offset paging, no resultId)."""
    if not fields:
        raise ValueError("query needs at least one field")
    if not 1 <= pagesize <= MAX_QUERY_PAGE:
        raise ValueError(f"query pagesize must be 1..{MAX_QUERY_PAGE}, not {pagesize}")
    body = _el("query", children=[_el("object", obj), _el("select", children=[_el("field", f) for f in fields])])
    if filter:
        body.append(_el("filter", children=[filter_element(filter)]))
    if order_by:
        body.append(_el("orderby", children=[
            _el("order", children=[_el("field", name), _el("descending" if direction == "desc" else "ascending")])
            for name, direction in order_by]))
    options = [_el("showprivate", "true")]
    if case_insensitive:
        options.insert(0, _el("caseinsensitive", "true"))
    body.append(_el("options", children=options))
    body.append(_el("pagesize", pagesize))
    body.append(_el("offset", offset))
    return Function(body, controlid)


def read_by_query(controlid: str, obj: str, fields: Sequence[str] | str = "*", where: str = "",
                  pagesize: int = MAX_READ_BY_QUERY_PAGE) -> Function:
    """Legacy ``readByQuery`` (pagesize 1..1000, continued by ``readMore``); ``where`` uses stored codes."""
    if not 1 <= pagesize <= MAX_READ_BY_QUERY_PAGE:
        raise ValueError(f"readByQuery pagesize must be 1..{MAX_READ_BY_QUERY_PAGE}, not {pagesize}")
    names = fields if isinstance(fields, str) else ",".join(fields)
    return Function(_el("readByQuery", children=[_el("object", obj), _el("fields", names), _el("query", where),
                                                  _el("pagesize", pagesize), _el("returnFormat", "xml")]), controlid)


def read_more(controlid: str, result_id: str) -> Function:
    return Function(_el("readMore", children=[_el("resultId", result_id)]), controlid)


def read(controlid: str, obj: str, keys: Sequence[Any], fields: Sequence[str] | str = "*") -> Function:
    """``read`` by RECORDNO (at most 100 keys); returns owned lines (APBILLITEMS) with the header."""
    if not 1 <= len(keys) <= 100:
        raise ValueError(f"read takes 1..100 keys, not {len(keys)}")
    names = fields if isinstance(fields, str) else ",".join(fields)
    return Function(_el("read", children=[_el("object", obj), _el("keys", ",".join(str(k) for k in keys)),
                                          _el("fields", names), _el("returnFormat", "xml")]), controlid)


def create(controlid: str, obj: str, record: Mapping[str, Any]) -> Function:
    return Function(_el("create", children=[record_element(obj, record)]), controlid)


def build_request(*, sender_id: str, sender_password: str, control_id: str, functions: Sequence[Function],
                  session_id: str | None = None, login: Mapping[str, str] | None = None,
                  unique_id: bool = False, transaction: bool = False) -> bytes:
    """One request document: control, then one operation authenticated by session or login."""
    if (session_id is None) == (login is None):
        raise ValueError("authenticate with a session id or a login, not both or neither")
    if not functions:
        raise ValueError("a request needs at least one function")
    control = _el("control", children=[
        _el("senderid", sender_id), _el("password", sender_password), _el("controlid", control_id),
        _el("uniqueid", "true" if unique_id else "false"), _el("dtdversion", DTD_VERSION),
        _el("includewhitespace", "false")])
    if session_id is not None:
        auth = _el("authentication", children=[_el("sessionid", session_id)])
    else:
        assert login is not None
        auth = _el("authentication", children=[_el("login", children=[
            _el(key, value) for key, value in login.items() if value not in (None, "")])])
    content = _el("content")
    for fn in functions:
        wrapper = etree.SubElement(content, "function", controlid=xml_text(fn.controlid))
        wrapper.append(fn.body)
    operation = _el("operation", children=[auth, content])
    operation.set("transaction", "true" if transaction else "false")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(_el("request", children=[control, operation]),
                                                                     encoding="UTF-8", xml_declaration=False)


# -- responses -----------------------------------------------------------------------------------
@dataclass
class Result:
    """One ``<result>``: status, function, controlid, the data attributes, records, and errors."""

    status: str
    function: str
    controlid: str
    records: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    errors: list[ErrorDetail] = field(default_factory=list)
    #: records that held characters XML forbids, taken out: ``{"object", "key", "fields"}``
    cleaned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def error(self, http_status: int | None = None) -> IntacctError:
        return IntacctError("result", self.errors, controlid=self.controlid, function=self.function,
                            http_status=http_status, status=self.status)

    def count(self, name: str) -> int:
        """An integer attribute of ``<data>`` (count, totalcount, numremaining), 0 when absent."""
        value = self.data.get(name) or "0"
        return int(value) if value.isdigit() else 0


@dataclass
class Response:
    results: list[Result]
    session_timeout: str | None = None
    session_timestamp: str | None = None


_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                       remove_comments=True, remove_pis=True)
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def _errors(parent: etree._Element | None) -> list[ErrorDetail]:
    if parent is None:
        return []
    found = []
    for error in parent.iter("error"):
        found.append(ErrorDetail(*(unquote((error.findtext(name) or "").replace(MARK, "").strip())
                                   for name in ("errorno", "description", "description2", "correction"))))
    if not found and (parent.text or "").strip():
        found.append(ErrorDetail(description=parent.text.strip()))
    return found


def element_to_record(elem: etree._Element) -> dict[str, Any]:
    """A record element as a dict: leaves are text (``""`` when empty), a repeated child is a list."""
    out: dict[str, Any] = {}
    for child in elem:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        value = element_to_record(child) if len(child) else (child.text or "")
        if tag in out:
            previous = out[tag]
            if isinstance(previous, list):
                previous.append(value)
            else:
                out[tag] = [previous, value]
        else:
            out[tag] = value
    return out


_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)


def _prolog_done(head: bytes) -> bool:
    """Whether ``head`` holds the whole prolog (it reaches the root element's start tag), refusing a DOCTYPE or
    entity declaration on the way (XXE, billion laughs) wherever it stands: after comments and PIs too."""
    if len(head) < 3 and b"\xef\xbb\xbf".startswith(head):
        return False  # a byte-order mark, maybe, not whole yet
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while (item := _PROLOG_ITEM.match(head, at)) is not None:
        at = item.end()  # whitespace, a whole XML declaration or PI, a whole comment
    rest = head[at:]
    if rest.startswith(b"<!"):
        if rest[:9].upper() == b"<!DOCTYPE" or rest[:8].upper() == b"<!ENTITY":
            raise IntacctProtocolError("the answer declares a DOCTYPE or entities; refused (Intacct never sends one)")
        return not (len(rest) < 9 or rest.startswith(b"<!--"))  # too short to tell, or a comment not finished yet
    return bool(rest) and rest != b"<" and not rest.startswith(b"<?")


MAX_PROLOG = 65536


def parse_response(chunks: Iterable[bytes], *, http_status: int = 200, max_bytes: int = DEFAULT_MAX_BYTES,
                   record_tags: Iterable[str] = (), what: str = "") -> Response:
    """Parse an answer fed in chunks and check its control and authentication status; raise on failure.

    Result-level failures are *not* raised here: each :class:`Result` carries its status and
    errors, so a batch of writes can tell which functions failed. ``record_tags`` (``APBILL``,
    ``apbill``) lets lxml report only the record elements; without it every element is looked at.
    ``what`` names the request (object and page) in the error when the answer does not parse.
    """
    tags = tuple(record_tags)
    parser = etree.XMLPullParser(events=("start", "end"), tag=("result", *tags) if tags else None, **_PARSER_OPTIONS)
    cleaner = AnswerCleaner()
    state = _Pages()
    size, fed, head = 0, 0, b""
    prolog_checked = False
    try:
        for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise IntacctProtocolError(f"the answer is larger than {max_bytes} bytes; refused")
            if not prolog_checked:
                head += chunk
                prolog_checked = _prolog_done(head)
                if not prolog_checked and len(head) > MAX_PROLOG:
                    raise IntacctProtocolError(f"the answer's prolog is longer than {MAX_PROLOG} bytes; refused")
                head = b"" if prolog_checked else head
            clean = cleaner.feed(chunk)
            parser.feed(clean)
            fed += len(clean)
            state.drain(parser, cleaner)
        if not prolog_checked and head:
            _prolog_done(head)
        parser.feed(cleaner.close())
        root = parser.close()
        state.drain(parser, cleaner)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise IntacctMalformedAnswer(
            f"the answer{' to ' + what if what else ''} is not well-formed XML even with the characters XML forbids "
            f"taken out (HTTP {http_status}, {size} bytes, line {line} column {column}, near byte {fed}): {exc.msg}. "
            "The same page comes back on a retry: not retried", http_status=http_status) from None
    if root is None or root.tag != "response":
        raise IntacctTransportError(f"the answer is not an Intacct <response> (HTTP {http_status})",
                                    http_status=http_status, retryable=True)
    return _check(root, http_status, state)


class _Pages:
    """The records of each result as they are parsed, and which of them were cleaned."""

    def __init__(self) -> None:
        self.records: list[list[dict[str, Any]]] = []
        self.cleaned: list[list[dict[str, Any]]] = []

    def drain(self, parser: etree.XMLPullParser, cleaner: AnswerCleaner) -> None:
        """Turn each finished record (a child of ``result/data``) into a dict and drop its element."""
        for event, elem in parser.read_events():
            if event == "start":
                if elem.tag == "result":
                    self.records.append([])
                    self.cleaned.append([])
                continue
            data = elem.getparent()
            if data is None or data.tag != "data" or not self.records:
                continue
            record = element_to_record(elem)
            if cleaner.replaced:
                fields = take_marks(record)
                if fields:
                    key = record.get("RECORDNO") or next((v for k, v in record.items() if k.endswith("ID")
                                                          and isinstance(v, str)), "")
                    self.cleaned[-1].append({"object": str(elem.tag).upper(), "key": key, "fields": fields})
            self.records[-1].append(record)
            elem.clear()
            while elem.getprevious() is not None:
                del data[0]


def _check(root: etree._Element, http_status: int, state: _Pages) -> Response:
    control = root.find("control")
    if control is None:
        raise IntacctTransportError(f"the answer has no <control> block (HTTP {http_status})", http_status=http_status)
    if (control.findtext("status") or "").strip() != "success":
        raise IntacctError("control", _errors(root.find("errormessage")), http_status=http_status)
    operation = root.find("operation")
    if operation is None:
        raise IntacctTransportError(f"the answer has no <operation> block (HTTP {http_status})", http_status=http_status)
    auth = operation.find("authentication")
    if auth is None or (auth.findtext("status") or "").strip() != "success":
        raise IntacctError("authentication", _errors(operation.find("errormessage")), http_status=http_status)
    results = []
    for index, node in enumerate(operation.findall("result")):
        data = node.find("data")
        key = node.findtext("key")
        results.append(Result(
            status=(node.findtext("status") or "").strip(), function=(node.findtext("function") or "").strip(),
            controlid=(node.findtext("controlid") or "").strip(),
            records=state.records[index] if index < len(state.records) else [],
            data=dict(data.attrib) if data is not None else {}, key=key.strip() if key else None,
            errors=_errors(node.find("errormessage")),
            cleaned=state.cleaned[index] if index < len(state.cleaned) else []))
    return Response(results, session_timeout=auth.findtext("sessiontimeout"),
                    session_timestamp=auth.findtext("sessiontimestamp"))


def iter_records(results: Iterable[Result]) -> Iterator[dict[str, Any]]:
    for result in results:
        yield from result.records
