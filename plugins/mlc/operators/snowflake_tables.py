"""The Snowflake tables Intacct lands in, and the SQL that loads them (reference/snowflake.md §4, §6).

Fivetran-like shape, so dbt models written for it fit: one table per Intacct object in lower snake
case (``vendor``, ``ap_bill``, ``ap_bill_item``, ``ap_payment``, ``ap_payment_detail`` (which bills a
payment pays), ``gl_account``, one per dimension),
Intacct field names lower-cased with dots as underscores, keyed on ``recordno``; typed (amounts
NUMBER(38,2), transaction dates DATE, timestamps TIMESTAMP_NTZ in the Intacct company's time zone,
said in the table comment); plus ``_synced_at``, ``_deleted`` and ``_raw`` (VARIANT, the whole source
record as JSON, so a field a customer adds is never lost, even before it has a column).

Loading never sends a statement per row: rows are written to a CSV file, PUT to a temporary stage,
COPY'd into a temporary table, then one MERGE per table (duplicates within the load resolved by
``QUALIFY``), in one session and one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from mlc.hooks.intacct_reads import FIELDS, dimension_fields

SYSTEM_COLUMNS = ("_synced_at", "_deleted", "_raw")
TRANSACTIONS = ("APBILL", "APPYMT", "APBILLITEM")  # their WHENCREATED/WHENPOSTED/WHENDUE... are dates
#: child object -> (parent object, the group its records come nested in, the child's key of its parent). A parent
#: loaded again brings all its children: those no longer there are marked ``_deleted``.
CHILDREN = {"APBILLITEM": ("APBILL", "APBILLITEMS", "RECORDKEY"),
            "APPYMTDETAIL": ("APPYMT", "APPYMTDETAILS", "PAYMENTKEY")}
INTEGERS = {"RECORDNO", "RECORDKEY", "LINE_NO", "PAYMENTKEY", "ENTRYKEY"}
AMOUNTS = {"AMOUNT", "TRX_AMOUNT", "CREDITLIMIT", "TRX_PAYMENTAMOUNT", "PAYMENTAMOUNT"}
BOOLEANS = {"ONHOLD"}
_IDENT = re.compile(r"[^a-z0-9_]+")


def column_name(field: str) -> str:
    """``DISPLAYCONTACT.EMAIL1`` → ``displaycontact_email1``."""
    return _IDENT.sub("_", field.lower()).strip("_") or "field"


def column_type(obj: str, field: str) -> str:
    name = field.upper()
    if name in INTEGERS:
        return "NUMBER(38,0)"
    if name in AMOUNTS or name.startswith("TOTAL"):
        return "NUMBER(38,2)"
    if name in BOOLEANS:
        return "BOOLEAN"
    if name in ("WHENMODIFIED", "AUWHENCREATED"):
        return "TIMESTAMP_NTZ"
    if name.startswith("WHEN"):
        return "DATE" if obj in TRANSACTIONS else "TIMESTAMP_NTZ"
    return "VARCHAR"


@dataclass(frozen=True)
class TableSpec:
    """One target table: its Intacct object, the staged export it comes from, and its source fields."""

    name: str
    obj: str
    export: str
    fields: tuple[str, ...]

    def columns(self, extra: Sequence[str] = ()) -> list[tuple[str, str, str]]:
        """(column, type, source field) for every column, system columns excluded."""
        seen, out = set(), []
        for field in (*self.fields, *extra):
            name = column_name(field)
            if name not in seen and name not in SYSTEM_COLUMNS:
                seen.add(name)
                out.append((name, column_type(self.obj, field), field))
        return out


def table_specs(dimensions: Sequence[str]) -> dict[str, TableSpec]:
    specs = {
        "vendor": TableSpec("vendor", "VENDOR", "vendors", FIELDS["VENDOR"]),
        "ap_bill": TableSpec("ap_bill", "APBILL", "bills", FIELDS["APBILL"]),
        "ap_bill_item": TableSpec("ap_bill_item", "APBILLITEM", "bills", FIELDS["APBILLITEM"]),
        "ap_payment": TableSpec("ap_payment", "APPYMT", "payments", FIELDS["APPYMT"]),
        "ap_payment_detail": TableSpec("ap_payment_detail", "APPYMTDETAIL", "payments", FIELDS["APPYMTDETAIL"]),
        "gl_account": TableSpec("gl_account", "GLACCOUNT", "gl_accounts", FIELDS["GLACCOUNT"]),
    }
    for name in dimensions:
        obj = name.upper()
        specs[column_name(obj)] = TableSpec(column_name(obj), obj, "dimensions", dimension_fields(obj))
    return specs


def source_records(spec: TableSpec, staged: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records of ``spec``'s object in its staged export (children unnested, dimensions split)."""
    groups = {group for _, group, _ in CHILDREN.values()}
    for record in staged:
        if spec.obj in CHILDREN:
            _parent, group, parent_key = CHILDREN[spec.obj]
            children = (record.get(group) or {}).get(spec.obj) or []
            for child in [children] if isinstance(children, dict) else children:
                yield {**child, parent_key: child.get(parent_key) or record.get("RECORDNO")}
        elif spec.export == "dimensions":
            if record.get("DIMENSION") == spec.obj:
                yield record.get("RECORD") or record
        else:
            yield {k: v for k, v in record.items() if k not in groups}


def parent_keys(staged: Iterator[dict[str, Any]]) -> Iterator[Any]:
    """The parents' RECORDNOs in a staged export of a child table (every bill loaded, lines or not)."""
    for record in staged:
        yield record.get("RECORDNO")


def orphaned_children_sql(spec: TableSpec, stage_table: str, parents_table: str) -> str:
    """Mark ``_deleted`` the children of the parents in this load that the load no longer has (a bill line
    removed in Intacct), so that a bill's lines keep adding up to its total."""
    key = column_name(CHILDREN[spec.obj][2])
    return (f"UPDATE {spec.name} SET _deleted = TRUE, _synced_at = CURRENT_TIMESTAMP()::TIMESTAMP_NTZ "
            f"WHERE NOT _deleted AND {key} IN (SELECT recordno::NUMBER(38,0) FROM {parents_table}) "
            f"AND recordno NOT IN (SELECT recordno::NUMBER(38,0) FROM {stage_table})")


def _when(text: str, with_time: bool) -> str:
    for fmt in ("%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text[:19] if "T" in text or "-" in text[:5] else text, fmt)
            return moment.strftime("%Y-%m-%d %H:%M:%S") if with_time else moment.date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date")


def cell(value: Any, sql_type: str) -> str | None:
    """A source value as the text the staging table holds for ``sql_type``; ``ValueError`` when it cannot be."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if sql_type.startswith("NUMBER"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a number") from None
        places = int(sql_type.rsplit(",", 1)[1].rstrip(")"))
        return f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if sql_type == "BOOLEAN":
        return "TRUE" if text.lower() in ("true", "1", "t", "yes") else "FALSE"
    if sql_type == "DATE":
        return value.isoformat() if isinstance(value, date) else _when(text, with_time=False)
    if sql_type == "TIMESTAMP_NTZ":
        return _when(text, with_time=True)
    return text


def raw_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def create_table_sql(spec: TableSpec, columns: Sequence[tuple[str, str, str]], timezone: str) -> str:
    body = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in columns)
    return (f"CREATE TABLE IF NOT EXISTS {spec.name} ({body}, _synced_at TIMESTAMP_NTZ, _deleted BOOLEAN, "
            f"_raw VARIANT) COMMENT = 'Sage Intacct {spec.obj}; TIMESTAMP_NTZ columns are in {timezone} (the Intacct "
            "company time zone); _synced_at in UTC; loaded by ml-connector'")


def staging_sql(stage_table: str, columns: Sequence[tuple[str, str, str]], temporary: bool = True) -> str:
    kind = "TEMPORARY" if temporary else "TRANSIENT"
    body = ", ".join(f"{name} VARCHAR" for name, _, _ in columns)
    return f"CREATE {kind} TABLE {stage_table} ({body}, _raw VARCHAR)"


def keys_table_sql(table: str, temporary: bool = True) -> str:
    """A staging table of parent keys (the bills or payments of a load)."""
    return f"CREATE {'TEMPORARY' if temporary else 'TRANSIENT'} TABLE {table} (recordno VARCHAR)"


def merge_sql(spec: TableSpec, stage_table: str, columns: Sequence[tuple[str, str, str]]) -> str:
    """One MERGE from the staging table; the newest version of a key in the load wins, and a row whose
    source record did not change is not touched (a replayed window updates nothing)."""
    casts = ", ".join(f"{name}::{sql_type} AS {name}" for name, sql_type, _ in columns)
    order = "whenmodified" if any(name == "whenmodified" for name, _, _ in columns) else "recordno"
    names = [name for name, _, _ in columns]
    updates = ", ".join(f"{n} = s.{n}" for n in names if n != "recordno")
    return (f"MERGE INTO {spec.name} t USING (SELECT {casts}, PARSE_JSON(_raw) AS _raw FROM {stage_table} "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY recordno ORDER BY {order} DESC) = 1) s "
            f"ON t.recordno = s.recordno "
            f"WHEN MATCHED AND (t._deleted OR t._raw IS NULL OR t._raw::VARCHAR <> s._raw::VARCHAR) "
            f"THEN UPDATE SET {updates}, _raw = s._raw, "
            f"_synced_at = CURRENT_TIMESTAMP()::TIMESTAMP_NTZ, _deleted = FALSE "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}, _raw, _synced_at, _deleted) "
            f"VALUES ({', '.join(f's.{n}' for n in names)}, s._raw, CURRENT_TIMESTAMP()::TIMESTAMP_NTZ, FALSE)")
