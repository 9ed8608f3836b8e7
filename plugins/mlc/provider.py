"""ml-connector as a local Airflow provider: what the ``apache_airflow_provider`` entry point returns.

Installing this repository (``pip install -e .``, done by ``make venv`` and the image) registers the
``intacct``, ``exact_online`` and ``sterling`` connection types, so the UI's connection form shows
their own fields, labels and placeholders and its *Test* button calls the hooks'
``test_connection``. A hook living only in ``plugins/`` never registers a type (Airflow issue
#20317); the fields are declared here as ``conn-fields`` / ``ui-field-behaviour`` (the import-free
way Airflow 3.3 reads) rather than as hook methods.

Extra fields are stored under their plain names in the connection's extra (``sender_id``, not
``extra__intacct__sender_id``), which is what the hooks read.
"""

from __future__ import annotations

from typing import Any

from mlc import VERSION


def _text(label: str, description: str = "") -> dict[str, Any]:
    field: dict[str, Any] = {"label": label, "schema": {"type": ["string", "null"]}}
    if description:
        field["description"] = description
    return field


def _secret(label: str, description: str = "") -> dict[str, Any]:
    field = _text(label, description)
    field["schema"]["format"] = "password"
    return field


INTACCT = {
    "hook-class-name": "mlc.hooks.intacct.IntacctHook",
    "hook-name": "Sage Intacct",
    "connection-type": "intacct",
    "conn-fields": {
        "sender_id": _text("Web Services sender ID", "The sender ID Sage issued with the Web Services licence."),
        "sender_password": _secret("Sender password"),
        "company_id": _text("Company ID", "The Intacct company the Web Services user signs in to."),
        "entity_id": _text("Entity ID (optional)", "Sign in to one entity of a multi-entity company; "
                                                    "empty = top level."),
        "timezone": _text("User time zone", "The Web Services user's time zone (GMT recommended): Intacct's "
                                            "timestamps are read in it. Default UTC."),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "XML gateway URL", "login": "Web Services user ID", "password": "User password"},
        "placeholders": {"host": "https://api.intacct.com/ia/xml/xmlgw.phtml", "login": "xml_gateway_user",
                         "sender_id": "MySenderID", "company_id": "MyCompany", "timezone": "UTC"},
    },
}

EXACT_ONLINE = {
    "hook-class-name": "mlc.hooks.exact_online.ExactOnlineHook",
    "hook-name": "Exact Online",
    "connection-type": "exact_online",
    "conn-fields": {
        "division": _text("Division", "The division code; empty = the user's current division (current/Me), "
                                      "which the log asks you to pin."),
        "refresh_token": _secret("First refresh token", "Written by `mlc exact-auth`; rotated tokens are kept "
                                                         "encrypted in ml-connector's state database."),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "Base URL (per country)", "login": "Client ID", "password": "Client secret"},
        "placeholders": {"host": "https://start.exactonline.nl", "login": "00000000-0000-0000-0000-000000000000",
                         "division": "1234567"},
    },
}

STERLING = {
    "hook-class-name": "mlc.hooks.sterling.SterlingHook",
    "hook-name": "IBM Sterling B2B Integrator",
    "connection-type": "sterling",
    "conn-fields": {
        "base_path": _text("REST API base path", "Where B2Bi's REST APIs are mounted. Default /B2BAPIs/svc."),
        "content_path": _text("Message content path", "Template of the document-content resource. "
                                                      "Default documents/{documentId}."),
        "token_url": _text("OAuth token URL (SaaS only)", "Set to use OAuth client credentials instead of Basic."),
        "client_id": _text("OAuth client ID"),
        "client_secret": _secret("OAuth client secret"),
        "scope": _text("OAuth scope"),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["extra"],
        "relabeling": {"login": "API user", "password": "API password", "schema": "Scheme (https)"},
        "placeholders": {"host": "b2bi.example.com", "port": "5075", "schema": "https", "login": "apiuser",
                         "base_path": "/B2BAPIs/svc", "content_path": "documents/{documentId}"},
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow's ProvidersManager validates and reads."""
    return {
        "package-name": "ml-connector",
        "name": "ml-connector",
        "description": "Accounts-payable integrations: Sage Intacct, Stampli, Exact Online, IBM Sterling B2Bi, "
                       "Snowflake and SFTP trading partners.",
        "versions": [VERSION],
        "connection-types": [INTACCT, EXACT_ONLINE, STERLING],
        "notifications": ["mlc.operators.alerts.MlcAlertNotifier"],
    }
