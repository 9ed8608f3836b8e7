"""ml-connector's state database: every table from one schema, created once whoever comes first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from mlc.state.control_numbers import SqlControlNumberStore
from mlc.state.exact_tokens import TokenStore
from mlc.state.ledgers import DeliveryLedger, InboundLedger, content_key, normalize_destination, sftp_destination
from mlc.state.progress import SentRecords, Watermarks
from mlc.state.schema import METADATA, ensure_tables, state_url


def test_every_store_uses_the_one_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    DeliveryLedger(url)
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert tables == set(METADATA.tables) == {"mlc_delivery", "mlc_inbound_file", "mlc_control_sequence",
                                               "mlc_control_run", "mlc_exact_token", "mlc_watermark",
                                               "mlc_record_sent", "mlc_delivery_ack"}


def test_the_stores_share_one_database_and_many_at_once_create_it_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: ensure_tables(url), range(16)))
    ledger, inbound, numbers, tokens = DeliveryLedger(url), InboundLedger(url), SqlControlNumberStore(url), TokenStore(url)

    ledger.record("sftp://sftp_default/outbound", "a" * 64, "outbound/f.x12", 10, "run-1", {"isa13": "000000001"})
    inbound.mark("sftp://stampli_sftp/invoices", "b" * 64, "f.csv", "done", "run-1", rows=3, posted=3)
    assert numbers.allocate("ISA|ZZ:A|ZZ:B", "run-1") == 1
    with tokens.lock("chain"):
        pass

    assert ledger.find("sftp://sftp_default/outbound", "a" * 64)["remote_path"] == "outbound/f.x12"
    assert ledger.at("sftp://sftp_default/outbound")[0]["control"] == {"isa13": "000000001"}
    assert ledger.at("sftp://sftp_default/outbound/sub") == ledger.at("sftp://sftp_default/out") == []
    assert inbound.find("sftp://stampli_sftp/invoices", "b" * 64)["posted"] == 3
    ledger.record("sftp://sftp_default/outbound", "a" * 64, "outbound/g.x12", 11, "run-2")  # a re-send updates
    assert ledger.find("sftp://sftp_default/outbound", "a" * 64)["run"] == "run-2"


def test_destinations_are_named_one_way(monkeypatch):
    assert sftp_destination("sftp_default", "outbound/") == "sftp://sftp_default/outbound"
    assert normalize_destination("sftp://sftp_default/./outbound//") == "sftp://sftp_default/outbound"
    assert normalize_destination("sterling://sterling_default//MLC/Out") == "sterling://sterling_default//MLC/Out"
    assert content_key("m", "x") == content_key("m", "x") != content_key("n", "x")
    monkeypatch.setenv("MLC_STATE_URL", "postgresql://somewhere/state")
    assert state_url() == "postgresql://somewhere/state"


def test_a_watermark_only_moves_forward_and_the_record_ledger_keeps_each_version_once(tmp_path):
    from datetime import datetime, timezone

    url = f"sqlite:///{tmp_path / 'state.db'}"
    marks = Watermarks(url)
    nov = [datetime(2026, 11, day, 6, tzinfo=timezone.utc) for day in (2, 9, 16)]
    assert marks.get("s") is None
    assert marks.advance("s", nov[1], "r1") == nov[1]
    assert marks.advance("s", nov[0], "r2") == nov[1], "never backwards"
    assert marks.advance("s", nov[2], "r3") == nov[2] == marks.get("s")

    ledger = SentRecords("sftp://sftp_default/outbound", url)
    assert ledger.record([("1", "a"), ("1", "a"), ("2", "b")], "f1.x12", "r1") == 2
    assert ledger.record([("1", "a"), ("1", "c")], "f2.x12", "r2") == 1  # a new version of record 1
    assert ledger.versions(["1", "2", "3"]) == {"1": {"a", "c"}, "2": {"b"}}
    assert SentRecords("sftp://other/outbound", url).versions(["1"]) == {}


def test_each_delivered_file_has_an_acknowledgment_state(tmp_path):
    from datetime import datetime, timezone

    from mlc.state.ledgers import AckLedger
    from mlc.state.schema import DELIVERIES

    url = f"sqlite:///{tmp_path / 'state.db'}"
    ledger, acks, where = DeliveryLedger(url), AckLedger(url), "sftp://sftp_default/outbound"
    for name, control in (("a.x12", {"ack_within_hours": 24}), ("b.x12", {"ack_within_hours": 24}),
                          ("c.x12", {"ack_within_hours": 24}), ("d.csv", {})):
        ledger.record(where, name * 8, f"outbound/{name}", 1, "run-1", control)
    with ledger.engine.begin() as conn:
        conn.execute(DELIVERIES.update().values(delivered_at="2026-12-01T06:00:00+00:00"))
    acks.answered(where, "a.x12" * 8, "accepted", "997_a.x12")
    acks.answered(where, "a.x12" * 8, "rejected", "997_a2.x12")  # a rejection stands over an acceptance
    acks.answered(where, "a.x12" * 8, "accepted", "997_a3.x12")

    states = {f["remote_path"]: (f["ack"], f["due"]) for f in acks.delivered(where, datetime(2026, 12, 1, 12,
                                                                                            tzinfo=timezone.utc))}
    late = acks.delivered(where, datetime(2026, 12, 3, tzinfo=timezone.utc))

    assert states == {"outbound/a.x12": ("rejected", "2026-12-02T06:00:00+00:00"),
                      "outbound/b.x12": ("pending", "2026-12-02T06:00:00+00:00"),
                      "outbound/c.x12": ("pending", "2026-12-02T06:00:00+00:00"),
                      "outbound/d.csv": ("none expected", None)}
    assert sorted(f["remote_path"] for f in late if f["ack"] == "overdue") == ["outbound/b.x12", "outbound/c.x12"]
    acks.alerted_all(where, ["b.x12" * 8])
    assert [f["remote_path"] for f in acks.overdue(where, datetime(2026, 12, 3, tzinfo=timezone.utc))] == [
        "outbound/c.x12"]


def test_a_file_keeps_its_worst_answer_and_every_parts_error_codes(tmp_path):
    from mlc.state.ledgers import AckLedger

    url = f"sqlite:///{tmp_path / 'state.db'}"
    where = "sftp://sftp_default/outbound"
    DeliveryLedger(url).record(where, "e" * 64, "outbound/e.x12", 1, "run-1", {"ack_within_hours": 24})
    acks = AckLedger(url)
    acks.answered(where, "e" * 64, "accepted with errors", "997_1.x12", "set 0001: I12")
    acks.answered(where, "e" * 64, "accepted", "997_1.x12")  # another set, clean: the file stays as it was
    acks.answered(where, "e" * 64, "accepted with errors", "997_1.x12", "set 0001: I12")  # the same part again
    (row,) = acks.delivered(where)
    assert (row["ack"], row["codes"], row["ack_file"]) == ("accepted with errors", "set 0001: I12", "997_1.x12")
    acks.answered(where, "e" * 64, "rejected", "997_2.x12", "set 0002: 5, IT1@6:8")
    acks.answered(where, "e" * 64, "invalid", "997_3.x12")
    (row,) = acks.delivered(where)
    assert (row["ack"], row["codes"], row["ack_file"]) == ("rejected", "set 0001: I12; set 0002: 5, IT1@6:8",
                                                           "997_2.x12")


def test_a_database_made_before_a_column_was_added_gets_it(tmp_path):
    import sqlalchemy as sa

    from mlc.state import schema
    from mlc.state.ledgers import AckLedger, InboundLedger

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.MetaData()
    for table in schema.METADATA.sorted_tables:  # as an earlier ml-connector made them: without codes and report
        sa.Table(table.name, old, *(c.copy() for c in table.columns if c.name not in ("codes", "report")))
    old.create_all(sa.create_engine(url))
    before = {c["name"] for c in sa.inspect(sa.create_engine(url)).get_columns("mlc_delivery_ack")}
    assert "codes" not in before

    DeliveryLedger(url).record("sftp://s/o", "f" * 64, "o/f.x12", 1, "run-1", {})
    AckLedger(url).answered("sftp://s/o", "f" * 64, "rejected", "997.x12", "set 0001: 5")
    InboundLedger(url).mark("sftp://stampli_sftp/invoices", "f" * 64, "f.csv", "done", "run-1", rows=1,
                            report="errors/f_errors.csv")
    assert AckLedger(url).delivered("sftp://s/o")[0]["codes"] == "set 0001: 5"
    assert InboundLedger(url).find("sftp://stampli_sftp/invoices", "f" * 64)["report"] == "errors/f_errors.csv"


def test_the_render_gate_reads_the_staged_file_once_asking_the_ledger_chunk_by_chunk(tmp_path, monkeypatch):
    import io
    import json
    from datetime import datetime

    from mlc.formats.control_numbers import FileControlNumberStore
    from mlc.formats.render import digest, render
    from mlc.operators import progress
    from mlc.operators.progress import LedgerGate

    monkeypatch.setattr(progress, "LOOKUP_CHUNK", 3)
    mapping = {"format": "csv", "record_key": "ID", "columns": [{"name": "id", "path": "ID"}, {"name": "v", "path": "V"}]}
    staged = tmp_path / "staged.jsonl"
    staged.write_text("".join(json.dumps({"ID": str(n), "V": "x"}) + "\n" for n in range(1, 8)))
    ledger = SentRecords("sftp://sftp_default/outbound", f"sqlite:///{tmp_path / 'state.db'}")
    ledger.record([("2", digest({"id": "2", "v": "x"})), ("6", digest({"id": "6", "v": "x"})),
                   ("7", digest({"id": "7", "v": "old"}))], "f0.csv", "r0")
    asked = []
    versions = ledger.versions
    monkeypatch.setattr(ledger, "versions", lambda keys: asked.append(list(keys)) or versions(asked[-1]))

    def run(force: bool):
        sidecar = io.StringIO()
        gate = LedgerGate(mapping, ledger, {"4"}, force, sidecar)
        result = render(mapping, gate.records(f"file://{staged}"), io.BytesIO(), timestamp=datetime(2026, 11, 2),
                        run_key="r", store=FileControlNumberStore(tmp_path / "cn.json"), gate=gate)
        return result, [json.loads(line)[0] for line in sidecar.getvalue().splitlines()]

    result, written = run(force=False)
    assert asked == [["1", "2", "3"], ["4", "5", "6"], ["7"]]  # one look-up per chunk, as the file is read
    assert written == ["1", "3", "5", "7"]  # 7 changed since it was sent
    assert [(p["key"], p["reason"]) for p in result.passed] == [("2", "already sent"), ("4", "waived"),
                                                                ("6", "already sent")]
    asked.clear()
    result, written = run(force=True)
    assert asked == [] and written == ["1", "2", "3", "5", "6", "7"]  # force: the ledger is not asked


def test_staged_records_are_read_whole(tmp_path):
    import json

    from mlc.operators import staging

    records = [{"n": n, "text": "é" * n + "\n" * (n % 2)} for n in range(40)]
    staged = tmp_path / "staged.jsonl"
    staged.write_bytes(b"\n\n".join(json.dumps(r, ensure_ascii=False).encode() for r in records) + b"\n \n")

    assert list(staging.staged_records(f"file://{staged}")) == records
    staged.write_bytes(json.dumps(records[0]).encode())  # no newline at the end
    assert list(staging.staged_records(f"file://{staged}")) == records[:1]
