"""Snowflake through fakesnow: server mode over HTTP (demo, workers) and in-process (tests)."""

from __future__ import annotations

import fakesnow
import pytest

from mlc.hooks.snowflake import MlcSnowflakeHook
from sandbox.snowflake import SnowflakeSandbox


@pytest.fixture(scope="module")
def snowflake_server():
    with SnowflakeSandbox() as server:
        yield server


def test_hook_reaches_the_server_over_http_and_merges(snowflake_server, use_connections):
    use_connections(snowflake_server.connections())
    hook = MlcSnowflakeHook(snowflake_conn_id="snowflake_default")

    hook.run([
        "CREATE DATABASE IF NOT EXISTS MLC",
        "CREATE OR REPLACE TABLE MLC.PUBLIC.VENDOR (RECORDNO INT, NAME TEXT)",
        "INSERT INTO MLC.PUBLIC.VENDOR VALUES (1, 'Acme'), (2, 'Globex')",
        "MERGE INTO MLC.PUBLIC.VENDOR t USING (SELECT 2 AS RECORDNO, 'Globex Corp' AS NAME "
        "UNION ALL SELECT 3, 'Initech') s ON t.RECORDNO = s.RECORDNO "
        "WHEN MATCHED THEN UPDATE SET NAME = s.NAME WHEN NOT MATCHED THEN INSERT (RECORDNO, NAME) "
        "VALUES (s.RECORDNO, s.NAME)",
    ])

    rows = hook.get_records("SELECT RECORDNO, NAME FROM MLC.PUBLIC.VENDOR ORDER BY RECORDNO")
    assert [tuple(r) for r in rows] == [(1, "Acme"), (2, "Globex Corp"), (3, "Initech")]
    assert hook._get_conn_params()["protocol"] == "http"


def test_without_the_protocol_extra_the_hook_speaks_https(snowflake_server, use_connections):
    conn = snowflake_server.connections()["snowflake_default"]
    del conn["extra"]["protocol"]
    use_connections({"snowflake_default": conn})

    assert "protocol" not in MlcSnowflakeHook(snowflake_conn_id="snowflake_default")._get_conn_params()


def test_in_process_fakesnow_patch_serves_the_plain_provider_hook(use_connections):
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    use_connections({"snowflake_default": {
        "conn_type": "snowflake", "login": "u", "password": "p", "schema": "PUBLIC",
        "extra": {"account": "acct", "database": "TESTDB", "warehouse": "WH"},
    }})
    with fakesnow.patch():
        hook = SnowflakeHook(snowflake_conn_id="snowflake_default")
        hook.run(["CREATE DATABASE IF NOT EXISTS TESTDB", "CREATE TABLE TESTDB.PUBLIC.T (X INT)",
                  "INSERT INTO TESTDB.PUBLIC.T VALUES (41), (1)"])
        assert hook.get_first("SELECT SUM(X) FROM TESTDB.PUBLIC.T")[0] == 42
