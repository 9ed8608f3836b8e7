"""Security checks, each against the real code path.

Here: hostile XML in an Intacct answer (entity expansion, external entities) is refused and never
resolved; remote file names that try to leave their folder are refused. Elsewhere, each proving one
promise of the issue: no password, session id, token or private key in any task log of a full
demo run (tests/test_demo.py); host key verification cannot be switched off silently
(tests/test_sftp_hook.py: unpinned key refused, `allow_host_key_change` refused, the explicit
`insecure_skip_host_key_check` opt-out logged on every connect); mappings cannot execute code
(tests/test_mappings.py::test_mappings_cannot_execute_code).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from mlc.hooks.intacct import IntacctHook
from mlc.hooks.intacct_xml import IntacctProtocolError, parse_response
from mlc.operators.checks import is_plain_file_name, is_safe_inbound_name
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed

SECRET_FILE_MARK = "root:x:0:0"
ENTITY_EXPANSION = (b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">'
                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
                    b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                    b'<response><control><status>&d;</status></control></response>')
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   b'<response><control><status>success</status><senderid>&x;</senderid></control>'
                   b'<operation><result><status>success</status><function>readByQuery</function>'
                   b'<data count="1"><CLASS><CLASSID>&x;</CLASSID></CLASS></data></result></operation></response>')
PARAMETER_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x.dtd">'
                    b'%ext;]><response/>')


@pytest.mark.parametrize("payload", [ENTITY_EXPANSION, EXTERNAL_ENTITY, PARAMETER_ENTITY],
                         ids=["entity-expansion", "external-entity", "parameter-entity"])
def test_hostile_xml_in_an_intacct_answer_is_refused_over_the_wire(payload, use_connections):
    IntacctHook.forget_sessions()
    with IntacctSandbox(seed=Seed(bills=1, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        hook = IntacctHook()
        list(hook.iter_query("CLASS"))  # a session first, so the hostile answer is a read's
        gateway.inject("entity_bomb", body=payload.decode())
        with pytest.raises(IntacctProtocolError, match="DOCTYPE") as refused:
            list(hook.iter_query("CLASS"))
        assert gateway.faults.fired.count("entity_bomb") == 1  # refused at once, not retried
    assert SECRET_FILE_MARK not in str(refused.value)
    IntacctHook.forget_sessions()


@pytest.mark.parametrize("payload", [ENTITY_EXPANSION, EXTERNAL_ENTITY, PARAMETER_ENTITY],
                         ids=["entity-expansion", "external-entity", "parameter-entity"])
def test_the_parser_refuses_a_doctype_before_resolving_anything(payload):
    with pytest.raises(IntacctProtocolError) as refused:
        parse_response([payload])
    assert SECRET_FILE_MARK not in str(refused.value) and "aaaaaaaaaaaaaaaaaaaa" * 10 not in str(refused.value)


HOSTILE_NAMES = ["../outside.csv", "../../etc/passwd", "sub/dir.csv", "..\\windows.csv", "/abs/path.csv",
                 ".hidden.csv", "..", ".", "", "name\x00.csv", "name\n.csv", "x" * 300,
                 # names that read otherwise than they are: a right-to-left override makes "invoice_\u202etxt.exe"
                 # show as "invoice_exe.txt"; C1 controls, line and paragraph separators, zero-width characters
                 "invoice_\u202etxt.exe", "name\x9b31m.csv", "name\x85.csv", "line\u2028break.csv",
                 "para\u2029.csv", "zero\u200bwidth.csv", "bom\ufeff.csv", "lrm\u200e.csv"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_remote_names_that_leave_their_folder_are_refused(name):
    assert not is_safe_inbound_name(name)  # what pickup, Sterling polling and acks read
    assert not is_plain_file_name(name)  # what delivery writes


@pytest.mark.parametrize("name", ["stampli_invoices_20261121_7.csv", "Factuur 2026-11 (ACME).csv",
                                  "MLC_810_20261116_000000001.x12", "Rechnung Müller & Söhne.csv",
                                  "請求書_2026.csv"])
def test_ordinary_names_pass(name):
    assert is_safe_inbound_name(name)
