"""Trading partner profiles: ``include/partners/<partner>.yaml``, one file per partner, data only.

A profile says which integrations the partner takes part in and, for each: the connections it uses
(SFTP, Sterling, the Intacct company, the Exact division), its folders, the documents it gets and the
mapping for each, its interchange IDs (which override the mapping's), its schedule (a cron in its time
zone), whether and how soon it acknowledges, and an on/off switch. Profiles are checked like mappings:
a mistake names the file and the line. Adding a partner is adding one file; switching one off
(``enabled: false``) or removing its file deletes none of its history (the ledgers keep it).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from mlc.formats.errors import MappingError
from mlc.formats.mapping import check_keys, fail, load_mapping, mapping_path, read_yaml

PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
FOLDER = re.compile(r"^[A-Za-z0-9._/{}-]+$")
CONN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")

# integration -> (connections it needs with their defaults, folders with their defaults, documents it can send)
INTEGRATIONS: dict[str, tuple[dict[str, str], dict[str, str], tuple[str, ...]]] = {
    "intacct_to_sftp": ({"intacct_conn_id": "intacct_default", "sftp_conn_id": "sftp_default"},
                        {"remote_dir": "outbound", "acks_dir": "acks"},
                        ("vendors", "bills", "gl_accounts", "dimensions", "payments", "deletes")),
    "exact_online_to_sftp": ({"exact_online_conn_id": "exact_online_default", "sftp_conn_id": "sftp_default"},
                             {"remote_dir": "inbound", "processed_dir": "inbound/processed", "acks_dir": "acks"},
                             ("purchase_invoices", "suppliers", "gl_accounts", "gl_account_mappings", "payments",
                              "cost_centres", "cost_units", "purchase_orders", "gl_transactions", "deletes")),
    "intacct_to_sterling": ({"intacct_conn_id": "intacct_default", "sterling_conn_id": "sterling_default"},
                            {"mailbox_template": "/{partner}/Inbox"}, ("bills",)),
}
PROFILE_KEYS = {"partner", "name", "description", "enabled", "integrations"}
INTEGRATION_KEYS = {"connections", "folders", "documents", "schedule", "interchange", "acknowledgments", "enabled"}
# intacct_to_sterling only: which vendors (Sterling trading partners) this profile serves, and the trading
# partner fields it sets over what the vendor says, on every sync (so a re-sync never undoes them).
STERLING_KEYS = {"vendors", "sterling_partner"}
STERLING_PARTNER_FIELDS = {"community", "emailAddress", "phone", "givenName", "surname", "timeZone", "addressLine1",
                           "city", "postalCode"}
# exact_online_to_sftp only: the division to read, when the connection's Exact user reaches several.
EXACT_KEYS = {"division"}
VENDOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
#: the connections whose systems take one caller at a time: each gets an Airflow pool named after it
POOLED = {"intacct_conn_id": "Sage Intacct company", "exact_online_conn_id": "Exact Online division"}


def partners_dir() -> Path:
    """Where profiles live: ``MLC_PARTNERS_DIR``, else the repository's ``include/partners``."""
    return Path(os.environ.get("MLC_PARTNERS_DIR") or Path(__file__).resolve().parents[3] / "include" / "partners")


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class PartnerIntegration:
    """What one partner gets from one integration."""

    integration: str
    connections: dict[str, str]
    folders: dict[str, str]
    documents: dict[str, str]  # document -> mapping name
    schedule: Schedule | None
    interchange: dict[str, Any] = field(default_factory=dict)  # {"x12": {...}, "edifact": {...}}
    ack_within_hours: float | None = None
    enabled: bool = True
    vendors: tuple[str, ...] | None = None  # intacct_to_sterling: the vendors this profile serves (None: the rest)
    sterling_partner: dict[str, str] = field(default_factory=dict)  # trading partner fields laid over the vendor's
    division: int | None = None  # exact_online_to_sftp: the division read (None: the connection's)

    @property
    def pool(self) -> str | None:
        """The Airflow pool of the system this part reads one caller at a time: the Intacct company's or the Exact
        division's, named after the connection (and the division, when the profile names one)."""
        for key in POOLED:
            if key in self.connections:
                conn = self.connections[key]
                return f"{conn}_{self.division}" if self.division is not None else conn
        return None

    def mapping(self, document: str) -> dict[str, Any]:
        """The document's mapping with this partner's interchange IDs and acknowledgment rule laid over it."""
        return with_partner(load_mapping(mapping_path(self.documents[document])), self.interchange,
                            self.ack_within_hours)


def with_partner(mapping: dict[str, Any], interchange: dict[str, Any] | None, ack_within_hours: float | None
                 ) -> dict[str, Any]:
    """A copy of ``mapping`` with a partner's interchange IDs (sender, receiver, recipient) and the hours within
    which it acknowledges laid over its X12 or EDIFACT section; other formats come back unchanged."""
    if not interchange and ack_within_hours is None:
        return mapping
    mapping = copy.deepcopy(mapping)
    section = mapping.get(mapping["format"])
    if mapping["format"] in ("x12", "edifact") and isinstance(section, dict):
        section.update(copy.deepcopy((interchange or {}).get(mapping["format"], {})))
        if ack_within_hours is not None:
            section["ack_expected_within_hours"] = ack_within_hours
    return mapping


@dataclass(frozen=True)
class Partner:
    partner: str
    name: str
    enabled: bool
    integrations: dict[str, PartnerIntegration]
    source: str

    def takes_part_in(self, integration: str) -> PartnerIntegration | None:
        """The partner's part in ``integration``, when it has one and both it and the partner are switched on."""
        part = self.integrations.get(integration)
        return part if part is not None and part.enabled and self.enabled else None


def load_partner(path: str | Path) -> Partner:
    """Load and check one profile; a mistake raises :class:`MappingError` naming the file and line."""
    source = str(path)
    data = read_yaml(path, "partner profile")
    check_keys(data, PROFILE_KEYS, "the partner profile", source)
    partner = data.get("partner")
    if not isinstance(partner, str) or not PARTNER_ID.match(partner):
        raise fail("partner must be an id of lower-case letters, digits and _ (it names the partner's DAGs)",
                   source, data, "partner" if "partner" in data else None)
    if Path(path).stem != partner:
        raise fail(f"partner {partner!r} must match the file name ({Path(path).stem}.yaml)", source, data, "partner")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled must be true or false", source, data, "enabled")
    integrations = data.get("integrations")
    check_keys(integrations, set(INTEGRATIONS), "integrations", source)
    if not integrations:
        raise fail("integrations names at least one of " + ", ".join(INTEGRATIONS), source, data, "integrations")
    parts = {name: _integration(name, spec, source) for name, spec in integrations.items()}
    return Partner(partner, str(data.get("name") or partner), enabled, parts, source)


def _integration(name: str, spec: Any, source: str) -> PartnerIntegration:
    where = f"integrations.{name}"
    extra_keys = {"intacct_to_sterling": STERLING_KEYS, "exact_online_to_sftp": EXACT_KEYS}.get(name, set())
    check_keys(spec, INTEGRATION_KEYS | extra_keys, where, source)
    connections_default, folders_default, documents_allowed = INTEGRATIONS[name]
    connections = {**connections_default, **_strings(spec, "connections", set(connections_default), CONN_ID,
                                                       where, source)}
    folders = {**folders_default, **_strings(spec, "folders", set(folders_default), FOLDER, where, source)}
    documents = _strings(spec, "documents", set(documents_allowed), re.compile(r"^[A-Za-z0-9_./-]+$"), where, source)
    if not documents:
        raise fail(f"{where}.documents names at least one of {', '.join(documents_allowed)} with its mapping",
                   source, spec, "documents" if "documents" in spec else None)
    for document, mapping in documents.items():
        error = _mapping_error(mapping)
        if error:
            raise fail(f"{where}.documents.{document}: {error}", source, spec["documents"], document) from None
    schedule = None
    if spec.get("schedule") is not None:
        check_keys(spec["schedule"], {"cron", "timezone"}, f"{where}.schedule", source)
        cron, zone = spec["schedule"].get("cron"), spec["schedule"].get("timezone", "UTC")
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise fail(f"{where}.schedule.cron {cron!r} is not a cron expression (minute hour day month weekday)",
                       source, spec["schedule"], "cron")
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"{where}.schedule.timezone {zone!r} is not a time zone (Europe/Amsterdam, UTC)", source,
                       spec["schedule"], "timezone") from None
        schedule = Schedule(cron, str(zone))
    interchange = spec.get("interchange") or {}
    check_keys(interchange, {"x12", "edifact"}, f"{where}.interchange", source)
    for standard, parties in interchange.items():
        allowed = {"sender", "receiver"} if standard == "x12" else {"sender", "recipient"}
        check_keys(parties, allowed, f"{where}.interchange.{standard}", source)
        for role, party in parties.items():
            check_keys(party, {"qualifier", "id", "group_id"}, f"{where}.interchange.{standard}.{role}", source)
            if not str(party.get("id") or "").strip():
                raise fail(f"{where}.interchange.{standard}.{role} needs an id", source, party)
    hours = None
    if spec.get("acknowledgments") is not None:
        check_keys(spec["acknowledgments"], {"expected_within_hours"}, f"{where}.acknowledgments", source)
        hours = spec["acknowledgments"].get("expected_within_hours")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 8760:
            raise fail(f"{where}.acknowledgments.expected_within_hours must be hours above 0", source,
                       spec["acknowledgments"], "expected_within_hours")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail(f"{where}.enabled must be true or false", source, spec, "enabled")
    vendors = spec.get("vendors")
    if vendors is not None and (not isinstance(vendors, list) or not vendors
                                or not all(isinstance(v, str) and VENDOR_ID.match(v) for v in vendors)):
        raise fail(f"{where}.vendors must list Intacct VENDORIDs (leave it out to serve every other vendor)",
                   source, spec, "vendors")
    overrides = _strings(spec, "sterling_partner", STERLING_PARTNER_FIELDS, re.compile(r"^[^\x00-\x1f\x7f]{1,100}$"),
                         where, source)
    division = spec.get("division")
    if division is not None and (isinstance(division, bool) or not isinstance(division, int) or division <= 0):
        raise fail(f"{where}.division must be an Exact Online division number (the Code of the administration)",
                   source, spec, "division")
    return PartnerIntegration(name, connections, folders, documents, schedule, interchange,
                              float(hours) if hours is not None else None, enabled,
                              tuple(vendors) if vendors is not None else None, overrides, division)


_CHECKED: dict[tuple[str, int, int], str] = {}


def _mapping_error(name: str) -> str:
    """Why mapping ``name`` does not load ("" when it does), checked once per version of its file: a folder of
    200 profiles names the same few mappings hundreds of times, and the DAG files are parsed often."""
    try:
        path = mapping_path(name)
        stat = Path(path).stat()
    except (ValueError, OSError) as exc:
        return str(exc)
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _CHECKED:
        try:
            load_mapping(path)
            _CHECKED[key] = ""
        except (ValueError, FileNotFoundError, MappingError) as exc:
            _CHECKED[key] = str(exc)
    return _CHECKED[key]


def _strings(spec: dict, key: str, allowed: set[str], pattern: re.Pattern[str], where: str, source: str
             ) -> dict[str, str]:
    values = spec.get(key) or {}
    check_keys(values, allowed, f"{where}.{key}", source)
    for name, value in values.items():
        if not isinstance(value, str) or not pattern.match(value) or ".." in value.split("/"):
            raise fail(f"{where}.{key}.{name} {value!r} is not a valid value here", source, values, name)
    return dict(values)


def load_partners(folder: Path | None = None) -> list[Partner]:
    """Every profile in ``folder`` (default :func:`partners_dir`), by partner id; switched-off ones included."""
    folder = folder or partners_dir()
    return [load_partner(path) for path in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []


def load_profiles(folder: Path | None = None, *, mentioning: str | None = None
                  ) -> tuple[list[Partner], dict[str, str]]:
    """Every profile in ``folder`` (default :func:`partners_dir`) that loads, and the error of each that does not
    (file stem -> the error, naming file and line): one broken file never hides the others. With ``mentioning``,
    only the files whose text names it are parsed (another integration's partners are none of its business)."""
    folder = folder or partners_dir()
    loaded: list[Partner] = []
    broken: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if mentioning is not None and not _mentions(path, mentioning):
            continue
        try:
            loaded.append(load_partner(path))
        except (MappingError, ValueError, OSError) as exc:
            broken[path.stem] = str(exc)
    return loaded, broken


def _mentions(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except OSError:
        return True  # let the loader say what is wrong with it


def dag_id(integration: str, partner: str) -> str:
    """The id of the DAG that runs ``integration`` for ``partner``."""
    return f"{integration}__{partner}"


def taking_part(integration: str, partners: list[Partner] | None = None) -> list[tuple[Partner, PartnerIntegration]]:
    """The switched-on partners of ``integration`` with their part in it, by partner id."""
    found = load_partners() if partners is None else partners
    return [(p, part) for p in found if (part := p.takes_part_in(integration)) is not None]


def vendor_scope(part: PartnerIntegration, partners: list[Partner]) -> tuple[list[str] | None, list[str]]:
    """Which vendors an intacct_to_sterling profile serves: ``(only, except_)``. A profile listing vendors serves
    those; one without a list serves every vendor that no other profile on the same Intacct company and Sterling
    lists, so each vendor's bills go once, in its own profile's document type and mailbox."""
    if part.vendors is not None:
        return list(part.vendors), []
    same = (part.connections["intacct_conn_id"], part.connections["sterling_conn_id"])
    claimed = {v for _p, other in taking_part("intacct_to_sterling", partners) if other.vendors
               and (other.connections["intacct_conn_id"], other.connections["sterling_conn_id"]) == same
               for v in other.vendors}
    return None, sorted(claimed)


def pools(partners: list[Partner] | None = None) -> dict[str, str]:
    """One Airflow pool (one slot) per Intacct company and Exact division that a switched-on profile uses, by
    connection id, with its description: the systems behind them take one caller at a time."""
    found: dict[str, str] = {}
    for p in load_partners() if partners is None else partners:
        for integration in p.integrations:
            part = p.takes_part_in(integration)
            if part is not None and part.pool is not None:
                key, what = next((k, w) for k, w in POOLED.items() if k in part.connections)
                behind = part.connections[key] + (f" (division {part.division})" if part.division else "")
                found.setdefault(part.pool, f"{what} behind {behind}: one caller at a time")
    return dict(sorted(found.items()))
