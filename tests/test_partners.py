"""Trading partner profiles: the shipped ones load and render; mistakes name the file and the line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlc.formats.errors import MappingError
from mlc.formats.partner import load_partner, load_partners
from mlc.formats.partner_cli import check_partner

REPO = Path(__file__).resolve().parent.parent
PARTNERS = REPO / "include" / "partners"

ACME = """\
partner: acme
integrations:
  intacct_to_sftp:
    documents: {bills: intacct_to_sftp/bills_x12_810}
    interchange:
      x12: {receiver: {qualifier: "01", id: "123456789"}}
    schedule: {cron: "30 7 * * 1-5", timezone: Europe/Amsterdam}
    acknowledgments: {expected_within_hours: 4}
"""


def write(tmp_path: Path, text: str, name: str = "acme") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_shipped_profiles_load_and_every_document_renders_valid_from_its_samples():
    partners = load_partners(PARTNERS)
    assert [p.partner for p in partners] == ["acme", "fresh_farms", "northwind", "sterling_hub", "warehouse_erp"]
    lines: list[str] = []

    assert all(check_partner(p, lines.append) for p in partners)
    assert any(line.startswith("  bills: intacct_to_sftp/bills_x12_810 -> sftp_default:outbound/MLC_810_")
               and line.endswith(", valid") for line in lines), lines


def test_a_profile_lays_its_interchange_ids_and_ack_rule_over_the_mapping_and_keeps_the_defaults(tmp_path):
    partner = load_partner(write(tmp_path, ACME))
    part = partner.takes_part_in("intacct_to_sftp")

    mapping = part.mapping("bills")

    assert mapping["x12"]["receiver"] == {"qualifier": "01", "id": "123456789"}
    assert mapping["x12"]["sender"] == {"qualifier": "ZZ", "id": "MLCBUYER"}  # the mapping's own
    assert mapping["x12"]["ack_expected_within_hours"] == 4
    assert part.connections == {"intacct_conn_id": "intacct_default", "sftp_conn_id": "sftp_default"}
    assert part.folders == {"remote_dir": "outbound", "acks_dir": "acks"}
    assert (part.schedule.cron, part.schedule.timezone) == ("30 7 * * 1-5", "Europe/Amsterdam")


def test_a_partner_or_an_integration_switched_off_takes_part_in_nothing(tmp_path):
    assert load_partner(write(tmp_path, ACME + "enabled: false\n")).takes_part_in("intacct_to_sftp") is None
    off = ACME.replace("  intacct_to_sftp:\n", "  intacct_to_sftp:\n    enabled: false\n")
    assert load_partner(write(tmp_path, off)).takes_part_in("intacct_to_sftp") is None


@pytest.mark.parametrize(("change", "message"), [
    (("partner: acme", "partner: Acme Inc"), ":1: partner must be an id of lower-case letters"),
    (("partner: acme", "partner: other"), ":1: partner 'other' must match the file name (acme.yaml)"),
    (("  intacct_to_sftp:", "  intacct_to_ftp:"), ":3: unknown key 'intacct_to_ftp' in integrations"),
    (("    documents:", "    document:"), ":4: unknown key 'document' in integrations.intacct_to_sftp"),
    (("{bills: intacct_to_sftp/bills_x12_810}", "{bills: intacct_to_sftp/bills_x12_811}"),
     ":4: integrations.intacct_to_sftp.documents.bills: mapping 'intacct_to_sftp/bills_x12_811' not found"),
    (("{bills: intacct_to_sftp/bills_x12_810}", "{orders: intacct_to_sftp/bills_x12_810}"),
     ":4: unknown key 'orders' in integrations.intacct_to_sftp.documents"),
    (('"30 7 * * 1-5"', '"30 7 * * monday-friday"'), ":7: integrations.intacct_to_sftp.schedule.cron"),
    (("Europe/Amsterdam", "Europe/Amsterdamm"), ":7: integrations.intacct_to_sftp.schedule.timezone"),
    (("expected_within_hours: 4", "expected_within_hours: soon"), ":8: integrations.intacct_to_sftp.acknowledgments"),
    (('id: "123456789"', 'id: ""'), ":6: integrations.intacct_to_sftp.interchange.x12.receiver needs an id"),
])
def test_mistakes_name_the_file_and_the_line(tmp_path, change, message):
    path = write(tmp_path, ACME.replace(*change))

    with pytest.raises(MappingError) as refused:
        load_partner(path)

    assert str(refused.value).startswith(f"{path}{message}"), str(refused.value)


def test_a_folder_that_climbs_out_or_an_alias_is_refused(tmp_path):
    climbing = ACME.replace("    documents:", "    folders: {remote_dir: ../../etc}\n    documents:")
    with pytest.raises(MappingError, match=r":4: integrations.intacct_to_sftp.folders.remote_dir '../../etc'"):
        load_partner(write(tmp_path, climbing))
    with pytest.raises(MappingError, match="an alias .* is not allowed in a partner profile"):
        load_partner(write(tmp_path, "partner: &p acme\nname: *p\n"))


def test_mlc_partner_check_by_id_and_a_document_without_samples_exits_1(tmp_path, monkeypatch, capsys):
    from mlc.cli import main

    assert main(["partner", "check", "acme"]) == 0
    assert capsys.readouterr().out.startswith("acme intacct_to_sftp: 0 6 * * 1 UTC\n  vendors: ")

    mappings = tmp_path / "mappings" / "intacct_to_sftp"
    mappings.mkdir(parents=True)
    shutil.copy(REPO / "include" / "mappings" / "intacct_to_sftp" / "bills_x12_810.yaml", mappings)
    monkeypatch.setenv("MLC_MAPPINGS_DIR", str(tmp_path / "mappings"))
    assert main(["partner", "check", str(write(tmp_path, ACME))]) == 1
    assert "bills: intacct_to_sftp/bills_x12_810 names no sample records" in capsys.readouterr().out


def test_the_documents_a_profile_may_name_are_the_exports_the_dags_offer():
    from mlc.formats.partner import INTEGRATIONS
    from mlc.operators import exact_extract, intacct_extract

    assert INTEGRATIONS["intacct_to_sftp"][2] == intacct_extract.EXPORTS
    assert INTEGRATIONS["exact_online_to_sftp"][2] == exact_extract.EXPORTS


@pytest.mark.parametrize("division", ["0", "abc", "true", "-3"])
def test_an_exact_division_must_be_a_division_number(tmp_path, division):
    text = ("partner: erp\nintegrations:\n  exact_online_to_sftp:\n    division: " + division +
            "\n    documents: {payments: exact_online_to_sftp/payments_x12_820}\n")
    with pytest.raises(MappingError, match=r"erp\.yaml:4: integrations\.exact_online_to_sftp\.division must be"):
        load_partner(write(tmp_path, text, "erp"))


def test_vendors_and_sterling_fields_belong_to_sterling_profiles_only(tmp_path):
    text = ACME.replace("  intacct_to_sftp:\n", "  intacct_to_sftp:\n    vendors: [V1]\n")
    with pytest.raises(MappingError, match="vendors"):
        load_partner(write(tmp_path, text))
