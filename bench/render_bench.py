"""The renderer against a bare writer that produces the same bytes (issue 21), per format, at 10,000 and 100,000
AP bills of 3 lines each: X12 810, EDIFACT INVOIC, CSV (one row per bill line) and fixed-width, each through its
shipped mapping. The bare writers below are plain loops of f-strings and joins that know the data is clean; they
take every value they write from the record (dates, amounts, totals, counts), as any exporter must, and check
nothing. Each is checked byte-identical to the renderer's output before anything is timed. For EDIFACT, pydifact
serialising the same segments is timed too; for X12, pyx12's writer given the same segments (its bytes checked
identical too), and ``checked_x12``, the same 810 written by hand with the renderer's checks: how far below the
bare writer any writer that checks what we check can get.

Each (format, N) runs in a fresh process: the renderer first (its peak RSS is the figure), then the bare writer,
in the same process, so the ratio compares like with like. Run with ``make bench``; writes
``bench/results.json``. Goals: renderer / bare <= 2.0 at 100,000 bills; peak RSS at 100,000 <= 1.2 x at 10,000.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from formats_bench import bills  # the same AP bills as the formats bench
from report import REPO, publish  # bench/ is on sys.path when a benchmark runs as a script

SIZES = tuple(int(n) for n in os.environ.get("MLC_BENCH_RENDER_SIZES", "10000,100000").split(","))
MAPPINGS = {"x12": "intacct_to_sftp/bills_x12_810.yaml", "edifact": "intacct_to_sftp/bills_edifact_invoic.yaml",
            "csv": "intacct_to_sftp/bills_lines_csv.yaml", "fixed_width": "intacct_to_sftp/bills_fixed_width.yaml"}
WHEN = datetime(2026, 11, 21, 6)


# -- the bare writers: the same bytes, no mapping, no checks ---------------------------------------------
# Each value written comes from the record, with the least work that gives the same bytes (a date by removing its
# dashes, an amount through Decimal, totals summed): a hand-written exporter for this one partner and clean data.
def _plain(amount: Decimal) -> str:
    """120.00 -> 120 (X12 R / EDIFACT n without trailing zeros)."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def bare_x12(out, records) -> None:
    w = out.write
    w(b"ISA*00*          *00*          *ZZ*MLCBUYER       *ZZ*ACMESUPPLY     *261121*0600*U*00401*000000001*0*P*>~\n"
      b"GS*IN*MLCBUYER*ACMESUPPLY*20261121*0600*1*X*004010~\n")
    n = 0
    for n, bill in enumerate(records, 1):
        lines = bill["APBILLITEMS"]["APBILLITEM"]
        segs = [f"ST*810*{n:04d}", f"BIG*{bill['WHENCREATED'][:10].replace('-', '')}*{bill['RECORDID']}**"
                f"{bill['DOCNUMBER']}", f"CUR*SE*{bill['CURRENCY']}",
                f"N1*RE*{bill['VENDORNAME']}*92*{bill['VENDORID']}", "N1*BT*MLC DEMO BUYER*92*MLCBUYER",
                f"ITD*01*3****{bill['WHENDUE'][:10].replace('-', '')}******{bill['TERMNAME']}"]
        total = Decimal(0)
        for line in lines:
            amount = Decimal(line["TRX_AMOUNT"])
            total += amount
            segs += [f"IT1*{line['LINE_NO']}*1*EA*{_plain(amount)}", f"PID*F****{line['ENTRYDESCRIPTION']}",
                     f"REF*ZZ*{line['ACCOUNTNO']}*GL ACCOUNT"]
        segs += [f"TDS*{int(total * 100)}", f"CTT*{len(lines)}", f"SE*{len(segs) + 3}*{n:04d}"]
        w(("~\n".join(segs) + "~\n").encode())
    w(f"GE*{n}*1~\nIEA*1*000000001~\n".encode())


def bare_edifact(out, records) -> None:
    w = out.write
    w(b"UNA:+.? '\nUNB+UNOC:3+5412345000013:14+4012345000009:14+261121:0600+000000001'\n")
    n = 0
    for n, bill in enumerate(records, 1):
        lines = bill["APBILLITEMS"]["APBILLITEM"]
        segs = [f"UNH+{n}+INVOIC:D:96A:UN:EAN008", f"BGM+380+{bill['RECORDID']}+9",
                f"DTM+137:{bill['WHENCREATED'][:10].replace('-', '')}:102",
                f"DTM+13:{bill['WHENDUE'][:10].replace('-', '')}:102", f"RFF+ON:{bill['DOCNUMBER']}",
                f"NAD+SU+{bill['VENDORID']}::ZZZ++{bill['VENDORNAME']}", "NAD+BY+4012345000009::9++MLC DEMO BUYER",
                f"CUX+2:{bill['CURRENCY']}:4"]
        total = Decimal(0)
        for n_line, line in enumerate(lines, 1):
            amount = Decimal(line["TRX_AMOUNT"])
            total += amount
            segs += [f"LIN+{n_line}", f"IMD+F++:::{line['ENTRYDESCRIPTION']}", "QTY+47:1:EA", f"MOA+203:{amount:.2f}",
                     f"PRI+AAA:{_plain(amount)}", f"RFF+ADE:{line['ACCOUNTNO']}"]
        segs += ["UNS+S", f"CNT+2:{len(lines)}", f"MOA+77:{total:.2f}", f"MOA+79:{total:.2f}",
                 f"UNT+{len(segs) + 5}+{n}"]
        w(("'\n".join(segs) + "'\n").encode())
    w(f"UNZ+{n}+000000001'\n".encode())


def bare_csv(out, records) -> None:
    w = out.write
    w(b"bill_number,vendor_id,vendor_name,bill_date,due_date,po_number,currency,bill_total,line_number,gl_account,"
      b"gl_account_title,department,location,class,project,description,line_amount\r\n")
    for bill in records:
        head = (f"{bill['RECORDID']},{bill['VENDORID']},{bill['VENDORNAME']},{bill['WHENCREATED'][:10]},"
                f"{bill['WHENDUE'][:10]},{bill['DOCNUMBER']},{bill['CURRENCY']},{Decimal(bill['TOTALENTERED']):.2f},")
        w("".join(f"{head}{line['LINE_NO']},{line['ACCOUNTNO']},,,,,,{line['ENTRYDESCRIPTION']},"
                  f"{Decimal(line['TRX_AMOUNT']):.2f}\r\n" for line in bill["APBILLITEMS"]["APBILLITEM"]).encode())


def bare_fixed_width(out, records) -> None:
    w = out.write
    w(("HMLCBUYER".ljust(80) + "\r\n").encode())
    n, total = 0, Decimal(0)
    for n, bill in enumerate(records, 1):
        amount = Decimal(bill["TOTALENTERED"])
        total += amount
        w((f"D{bill['RECORDID']:<20}{bill['VENDORID']:<10}{bill['VENDORNAME']:<25}"
           f"{bill['WHENCREATED'][:10].replace('-', '')}{int(amount * 100):013d}{bill['CURRENCY']}\r\n").encode())
    w((f"T{n:09d}{int(total * 100):015d}".ljust(80) + "\r\n").encode())


# -- the floor: the same 810 written by hand for this one mapping, with the checks the renderer makes ----------
_X12_SAFE = frozenset(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"&'()+,-./:;?="
                      "%@[]_{}\\|<#$")  # X12 extended, less the separators in use (* > ~ ^)
_PLAIN_AMOUNT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,12})?\Z")


def _text(value, most: int, required: bool = False) -> str:
    text = "" if value is None else value.strip() if value.__class__ is str else str(value).strip()
    if (required and not text) or len(text) > most:
        raise ValueError(f"{value!r}: required or too long")
    return text


def _d8(value) -> str:
    return date.fromisoformat(value[:10]).strftime("%Y%m%d")  # refuses a day that does not exist


def _amount(value) -> Decimal:
    if value.__class__ is str and _PLAIN_AMOUNT.match(value):
        return Decimal(value)
    raise ValueError(f"{value!r} is not an amount")


def checked_x12(out, records) -> None:
    """What a careful hand-written 810 writer for this partner costs: each value required or not, no longer than its
    element, dates that exist, amounts that parse, lines that add up to the stated total, every value in the
    partner's character set and free of separators. No mapping, no error reports naming fields: the floor under any
    writer that checks what the renderer checks."""
    w = out.write
    w(b"ISA*00*          *00*          *ZZ*MLCBUYER       *ZZ*ACMESUPPLY     *261121*0600*U*00401*000000001*0*P*>~\n"
      b"GS*IN*MLCBUYER*ACMESUPPLY*20261121*0600*1*X*004010~\n")
    n = 0
    for n, bill in enumerate(records, 1):
        segs = [f"ST*810*{n:04d}", "*".join(["BIG", _d8(bill.get("WHENCREATED")), _text(bill.get("RECORDID"), 22, True),
                                             "", _text(bill.get("DOCNUMBER"), 22)]),
                "CUR*SE*" + _text(bill.get("CURRENCY") or "USD", 3),
                "*".join(["N1", "RE", _text(bill.get("VENDORNAME"), 60, True), "92", _text(bill.get("VENDORID"), 80)]),
                "N1*BT*MLC DEMO BUYER*92*MLCBUYER",
                "ITD*01*3****" + _d8(bill.get("WHENDUE")) + "******" + _text(bill.get("TERMNAME"), 80)]
        total = Decimal(0)
        lines = bill["APBILLITEMS"]["APBILLITEM"]
        for line in lines:
            amount = _amount(line.get("TRX_AMOUNT"))
            total += amount
            segs.append(f"IT1*{_text(line.get('LINE_NO'), 20)}*1*EA*{_plain(amount)}")
            description = _text(line.get("ENTRYDESCRIPTION"), 80)
            if description:
                segs.append("PID*F****" + description)
            for qualifier, path, named in (("ZZ", "ACCOUNTNO", "GL ACCOUNT"), ("DP", "DEPARTMENTID", None),
                                           ("LU", "LOCATIONID", None), ("ZZ", "CLASSID", "CLASS"),
                                           ("PJ", "PROJECTID", None)):
                if line.get(path):
                    value = _text(line[path], 30)
                    segs.append(f"REF*{qualifier}*{value}*{named}" if named else f"REF*{qualifier}*{value}")
        if _amount(bill.get("TOTALENTERED")) != total:
            raise ValueError("total does not add up")
        segs += [f"TDS*{int(total * 100)}", f"CTT*{len(lines)}"]
        body = "~\n".join(segs)
        if not _X12_SAFE.issuperset(body.replace("*", "").replace("~\n", "")):
            raise ValueError("a value outside the character set or holding a separator")
        w((body + f"~\nSE*{len(segs) + 1}*{n:04d}~\n").encode())
    w(f"GE*{n}*1~\nIEA*1*000000001~\n".encode())


BARE = {"x12": bare_x12, "edifact": bare_edifact, "csv": bare_csv, "fixed_width": bare_fixed_width}


def render_with_mapping(fmt: str, records, out, state: Path) -> None:
    from mlc.formats.control_numbers import FileControlNumberStore
    from mlc.formats.mapping import load_mapping
    from mlc.formats.render import render

    state.unlink(missing_ok=True)
    result = render(load_mapping(REPO / "include" / "mappings" / MAPPINGS[fmt]), records, out, timestamp=WHEN,
                    run_key="bench", store=FileControlNumberStore(state))
    assert not result.rejected, result.rejected[:3]


def pydifact_edifact(out, records) -> None:
    """The INVOIC segments built and serialised by pydifact (no envelope checks of ours)."""
    from pydifact.segmentcollection import Interchange
    from pydifact.segments import Segment

    interchange = Interchange(sender="5412345000013", recipient="4012345000009", control_reference="000000001",
                              syntax_identifier=("UNOC", 3), timestamp=WHEN)
    for n, bill in enumerate(records, 1):
        interchange.add_segment(Segment("UNH", str(n), ["INVOIC", "D", "96A", "UN", "EAN008"]))
        interchange.add_segment(Segment("BGM", "380", bill["RECORDID"], "9"))
        interchange.add_segment(Segment("DTM", ["137", "20261102", "102"]))
        interchange.add_segment(Segment("DTM", ["13", "20261202", "102"]))
        interchange.add_segment(Segment("RFF", ["ON", bill["DOCNUMBER"]]))
        interchange.add_segment(Segment("NAD", "SU", [bill["VENDORID"], "", "ZZZ"], "", bill["VENDORNAME"]))
        interchange.add_segment(Segment("NAD", "BY", ["4012345000009", "", "9"], "", "MLC DEMO BUYER"))
        interchange.add_segment(Segment("CUX", ["2", "USD", "4"]))
        for line in bill["APBILLITEMS"]["APBILLITEM"]:
            interchange.add_segment(Segment("LIN", line["LINE_NO"]))
            interchange.add_segment(Segment("IMD", "F", "", ["", "", "", line["ENTRYDESCRIPTION"]]))
            interchange.add_segment(Segment("QTY", ["47", "1", "EA"]))
            interchange.add_segment(Segment("MOA", ["203", "120.00"]))
            interchange.add_segment(Segment("PRI", ["AAA", "120"]))
            interchange.add_segment(Segment("RFF", ["ADE", line["ACCOUNTNO"]]))
        for tag, value in (("UNS", "S"), ("CNT", ["2", "3"]), ("MOA", ["77", "360.00"]), ("MOA", ["79", "360.00"]),
                           ("UNT", ["31", str(n)])):
            interchange.add_segment(Segment(tag, *([value] if isinstance(value, str) else [value])))
    out.write(interchange.serialize().encode())


def pyx12_x12(out, records) -> None:
    """The same 810 written through pyx12's X12Writer (it parses each segment and keeps the SE/GE/IEA counts):
    the same bytes as ours, checked like the bare writer's."""
    import pyx12.segment
    import pyx12.x12file

    text = io.TextIOWrapper(out, encoding="ascii", newline="", write_through=False)
    writer = pyx12.x12file.X12Writer(text, seg_term="~", ele_term="*", subele_term=">", eol="\n")

    def put(segment: str) -> None:
        writer.Write(pyx12.segment.Segment(segment, "~", "*", ">"))

    put("ISA*00*          *00*          *ZZ*MLCBUYER       *ZZ*ACMESUPPLY     *261121*0600*U*00401*000000001*0*P*>")
    put("GS*IN*MLCBUYER*ACMESUPPLY*20261121*0600*1*X*004010")
    for n, bill in enumerate(records, 1):
        lines = bill["APBILLITEMS"]["APBILLITEM"]
        for segment in (f"ST*810*{n:04d}", f"BIG*{bill['WHENCREATED'][:10].replace('-', '')}*{bill['RECORDID']}**"
                        f"{bill['DOCNUMBER']}", f"CUR*SE*{bill['CURRENCY']}",
                        f"N1*RE*{bill['VENDORNAME']}*92*{bill['VENDORID']}", "N1*BT*MLC DEMO BUYER*92*MLCBUYER",
                        f"ITD*01*3****{bill['WHENDUE'][:10].replace('-', '')}******{bill['TERMNAME']}"):
            put(segment)
        total = Decimal(0)
        for line in lines:
            amount = Decimal(line["TRX_AMOUNT"])
            total += amount
            put(f"IT1*{line['LINE_NO']}*1*EA*{_plain(amount)}")
            put(f"PID*F****{line['ENTRYDESCRIPTION']}")
            put(f"REF*ZZ*{line['ACCOUNTNO']}*GL ACCOUNT")
        put(f"TDS*{int(total * 100)}")
        put(f"CTT*{len(lines)}")
        put(f"SE*0*{n:04d}")  # pyx12 writes the count
    put("GE*0*1")
    put("IEA*0*000000001")
    writer.close()
    text.detach()


def child(fmt: str, n: int) -> dict:
    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlc-render-bench-{os.getpid()}.cn.json"
    check_project, check_bare = io.BytesIO(), io.BytesIO()
    render_with_mapping(fmt, bills(50), check_project, state)
    BARE[fmt](check_bare, bills(50))
    if check_project.getvalue() != check_bare.getvalue():
        raise SystemExit(f"{fmt}: the bare writer's bytes differ from the renderer's: the comparison would be unfair")
    if fmt == "x12":
        check_checked = io.BytesIO()
        checked_x12(check_checked, bills(50))
        if check_checked.getvalue() != check_project.getvalue():
            raise SystemExit("x12: the checked hand-written writer's bytes differ from the renderer's")
        check_pyx12 = io.BytesIO()
        pyx12_x12(check_pyx12, bills(50))
        if check_pyx12.getvalue() != check_project.getvalue():
            raise SystemExit("x12: pyx12's bytes differ from the renderer's: the comparison would be unfair")
    figures: dict = {"format": fmt, "bills": n}
    with open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        render_with_mapping(fmt, bills(n), io.BufferedWriter(io.FileIO(sink.fileno(), "wb", closefd=False),
                                                             1 << 20), state)
        figures["renderer_seconds"] = time.perf_counter() - started
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        BARE[fmt](io.BufferedWriter(io.FileIO(sink.fileno(), "wb", closefd=False), 1 << 20), bills(n))
        figures["bare_seconds"] = time.perf_counter() - started
        if fmt == "x12":
            started = time.perf_counter()
            checked_x12(io.BufferedWriter(io.FileIO(sink.fileno(), "wb", closefd=False), 1 << 20), bills(n))
            figures["checked_seconds"] = time.perf_counter() - started
            started = time.perf_counter()
            pyx12_x12(io.BufferedWriter(io.FileIO(sink.fileno(), "wb", closefd=False), 1 << 20), bills(n))
            figures["pyx12_seconds"] = time.perf_counter() - started
        if fmt == "edifact":
            started = time.perf_counter()
            pydifact_edifact(io.BytesIO(), bills(n))
            figures["pydifact_seconds"] = time.perf_counter() - started
    state.unlink(missing_ok=True)
    return figures


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.path[:0] = [str(REPO / "plugins")]
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
        return 0
    raw: dict = {}
    rows = []
    for fmt in MAPPINGS:
        for n in SIZES:
            done = subprocess.run([sys.executable, __file__, "--child", fmt, str(n)], cwd=REPO, check=True,
                                  capture_output=True, text=True)
            raw[f"{fmt}_{n}"] = result = json.loads(done.stdout.strip().splitlines()[-1])
            ratio = result["renderer_seconds"] / result["bare_seconds"]
            rows.append((f"{fmt} {n:,} bills: renderer / bare writer", ratio, "<= 2.0" if n == max(SIZES) else "",
                         ratio))
            rows.append((f"{fmt} {n:,} bills: bills/s", n / result["renderer_seconds"], ""))
            if "checked_seconds" in result:
                rows.append((f"{fmt} {n:,} bills: hand-written with the renderer's checks / bare writer",
                             result["checked_seconds"] / result["bare_seconds"], "the floor of any checking writer"))
                rows.append((f"{fmt} {n:,} bills: renderer / hand-written with its checks",
                             result["renderer_seconds"] / result["checked_seconds"], ""))
            for library in ("pydifact", "pyx12"):
                if f"{library}_seconds" in result:
                    rows.append((f"{fmt} {n:,} bills: renderer / {library}", result["renderer_seconds"]
                                 / result[f"{library}_seconds"], "< 1.0"))
        small, big = raw[f"{fmt}_{min(SIZES)}"], raw[f"{fmt}_{max(SIZES)}"]
        rows.append((f"{fmt} peak RSS MB at {max(SIZES):,} (x at {min(SIZES):,})", big["peak_rss_mb"],
                     f"<= 1.2x: {big['peak_rss_mb'] / small['peak_rss_mb']:.2f}x"))
    publish("render", rows, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
