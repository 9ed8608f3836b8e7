"""AUDIT lines: a sentence a person reads, then the record as JSON, which parse_audit_line gets back whole."""

from __future__ import annotations

import json
import logging

import pytest

from mlc.operators.audit import audit, parse_audit_line, sentence


def test_each_line_opens_with_a_sentence_and_ends_with_the_record(caplog):
    with caplog.at_level(logging.INFO, logger="mlc.audit"):
        record = audit("file_delivered", None, file="MLC_810_20261130_000000001.x12",
                       remote_path="outbound/MLC_810_20261130_000000001.x12", records=47, status="uploaded",
                       control={"isa13": "000000001", "gs06": "1"}, destination="sftp://sftp_default/outbound")
    (line,) = caplog.messages
    assert line.startswith("AUDIT file delivered: MLC_810_20261130_000000001.x12 to outbound "
                           "(47 records, ISA13 000000001, status uploaded) {")
    assert parse_audit_line(line) == record == json.loads(line[line.index(" {") + 1:])


@pytest.mark.parametrize(("record", "expected"), [
    ({"event": "record_rejected", "key": "BILL-7", "record": 3, "field": "parties[1].name", "error": "is required"},
     "record rejected: BILL-7 (field parties[1].name, is required)"),
    ({"event": "file_processed", "name": "invoices.csv", "rows": 10, "posted": 8, "rejected": 2},
     "file processed: invoices.csv (10 rows, 8 posted, 2 rejected)"),
    ({"event": "watermark_moved", "scope": "intacct_to_sftp__acme|bills", "until": "2026-12-01T00:00:00+00:00"},
     "watermark moved: intacct_to_sftp__acme|bills (until 2026-12-01T00:00:00+00:00)"),
    ({"event": "catching_up"}, "catching up"),
])
def test_sentences_name_what_where_and_how_many(record, expected):
    assert sentence(record) == expected


@pytest.mark.parametrize("line", [
    'x AUDIT {"event":"old","n":1} [mlc.audit] loc=audit.py:50',  # written before the sentence was
    'x AUDIT file delivered: {weird} name {"a" (1 records) {"event":"old","n":1}',  # braces in the sentence
    json.dumps({"event": 'AUDIT old: x {"event":"old","n":1}', "level": "info"}),  # Airflow 3's JSON log lines
])
def test_the_record_is_found_whatever_precedes_it(line):
    assert parse_audit_line(line) == {"event": "old", "n": 1}
