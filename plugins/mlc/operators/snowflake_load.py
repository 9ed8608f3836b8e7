"""Land staged Intacct records in Snowflake: every table of the run in one session and one
transaction (reference/snowflake.md §4), with a constant number of statements per table:

1. DDL first (DDL commits in Snowflake): each target created when absent, a new source field
   added as a column (``new_fields="add"``) or the run refused naming it (``"refuse"``; the value is
   kept in ``_raw`` either way); a temporary staging table per target, one temporary stage;
2. each table's rows written to a CSV file and ``PUT`` + ``COPY INTO`` its staging table;
3. one ``MERGE`` per table (the newest version of a key wins; an unchanged row is not touched), the
   AUDITHISTORY deletions marked ``_deleted``, and for a full refresh the keys no longer in Intacct;
4. one ``COMMIT``. A failure anywhere before it leaves every table as it was.

``merge_via="sql_api"`` sends the MERGE and UPDATE statements through the SQL API instead (their own
session), from transient staging tables loaded by the connector.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from mlc.operators.assets import announce, declare
from mlc.operators.audit import audit
from mlc.operators.lineage import ReportsLineage, dataset, file_dataset
from mlc.operators.progress import commit_watermark
from mlc.operators.staging import staged_records
from mlc.operators.snowflake_tables import (CHILDREN, SYSTEM_COLUMNS, TableSpec, cell, column_name, create_table_sql,
                                            keys_table_sql, merge_sql, orphaned_children_sql, parent_keys, raw_json,
                                            source_records, staging_sql, table_specs)


class CountingCursor:
    """A cursor that counts the statements it sends, by the table they are for."""

    def __init__(self, cursor: Any) -> None:
        self.cursor, self.counts, self.table = cursor, {}, "_session"

    def execute(self, sql: str, params: Any = None) -> Any:
        self.counts[self.table] = self.counts.get(self.table, 0) + 1
        return self.cursor.execute(sql, params) if params is not None else self.cursor.execute(sql)

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()


class SnowflakeLoadOperator(ReportsLineage, BaseOperator):
    """MERGE the records staged by the extract tasks into their Snowflake tables.

    :param sources: export name → the extract task that staged it (``vendors``, ``bills``, ...).
    :param tables: the tables to load (templated; a list or comma-separated); default all.
    :param dimensions: the dimension objects that have tables (templated).
    :param new_fields: ``add`` or ``refuse`` a source field without a column (templated).
    :param full_refresh: a table reloaded whole: its keys missing from Intacct are marked deleted (templated).
    :param merge_via: ``connector`` (one session) or ``sql_api`` (templated).
    :param timezone: the Intacct company time zone, stated in the table comments.
    :param sql_api_kwargs: passed to the SQL API hook (poll interval, retry arguments).
    """

    template_fields: Sequence[str] = ("tables", "dimensions", "new_fields", "full_refresh", "merge_via",
                                      "snowflake_conn_id", "timezone")
    ui_color = "#e3f2fd"

    def __init__(self, *, sources: dict[str, str], tables: Any = None, dimensions: Any = ("DEPARTMENT", "LOCATION",
                 "CLASS"), new_fields: str = "add", full_refresh: str | None = None, merge_via: str = "connector",
                 snowflake_conn_id: str = "snowflake_default", timezone: str = "UTC",
                 sql_api_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        declare(self)  # the asset alias its deliveries update
        self.sources, self.tables, self.dimensions = sources, tables, dimensions
        self.new_fields, self.full_refresh, self.merge_via = new_fields, full_refresh, merge_via
        self.snowflake_conn_id, self.timezone = snowflake_conn_id, timezone
        self.sql_api_kwargs = dict(sql_api_kwargs or {"poll_interval": 1.0})

    @staticmethod
    def _names(value: Any) -> list[str]:
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [v.strip() for v in str(value or "").strip("[]").replace("'", "").split(",") if v.strip()]

    def execute(self, context: Context) -> dict[str, Any]:
        if self.new_fields not in ("add", "refuse"):
            raise ValueError(f"new_fields must be 'add' or 'refuse', not {self.new_fields!r}")
        specs = table_specs(self._names(self.dimensions))
        wanted = self._names(self.tables) or list(specs)
        unknown = [t for t in wanted if t not in specs]
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(specs)}")
        ti = context["ti"]
        staged = {export: ti.xcom_pull(task_ids=task) for export, task in self.sources.items()}
        loads = [specs[t] for t in wanted if staged.get(specs[t].export)]
        if not loads:
            raise AirflowSkipException("nothing was staged for the tables asked for")
        from mlc.hooks.snowflake import MlcSnowflakeHook

        hook = MlcSnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)
        conn = hook.get_conn()
        conn.autocommit(False)
        cursor = CountingCursor(conn.cursor())
        tag = hashlib.sha256(f"{ti.dag_id}|{ti.run_id}|{ti.task_id}".encode()).hexdigest()[:10]
        results: dict[str, dict[str, Any]] = {}
        try:
            with tempfile.TemporaryDirectory(prefix="mlc-snowflake-") as tmp:
                plans = [self._prepare(cursor, spec, staged[spec.export]["uri"], Path(tmp), tag, context)
                         for spec in loads]
                cursor.table = "_session"
                cursor.execute(f"CREATE TEMPORARY STAGE mlc_load_{tag}")
                deletes = self._deleted(staged.get("deletes"))
                for plan in plans:
                    if not plan["rows"]:
                        continue  # nothing to stage (a COPY of a header alone is refused by some engines)
                    cursor.table = plan["spec"].name
                    for table, file, folder in ((plan["stage"], plan["file"], plan["spec"].name),
                                                (plan.get("parents"), plan.get("parents_file"), f"{plan['spec'].name}_parents")):
                        if table is None:
                            continue
                        cursor.execute(f"PUT file://{file} @mlc_load_{tag}/{folder}")
                        cursor.execute(f"COPY INTO {table} FROM @mlc_load_{tag}/{folder} "
                                       "FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1 FIELD_OPTIONALLY_ENCLOSED_BY='\"' "
                                       "EMPTY_FIELD_AS_NULL=TRUE)")
                statements = self._merge_all(cursor, plans, deletes, hook)
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        where = table_uri_prefix(hook, self.snowflake_conn_id)
        account, database, schema = where.removeprefix("snowflake://").split("/", 2)
        self.lineage = ([file_dataset(source["uri"]) for source in staged.values() if source],
                        [dataset(f"snowflake://{account}", f"{database}.{schema}.{plan['spec'].name}".lower())
                         for plan in plans])
        for plan in plans:
            name = plan["spec"].name
            results[name] = {**statements[name], "rows_staged": plan["rows"], "rejected": plan["rejected"],
                             "statements": cursor.counts.get(name, 0) + statements[name].pop("api_statements", 0),
                             "columns_added": plan["added"]}
            window = staged[plan["spec"].export].get("window")
            audit("table_loaded", context, logger=self.log, table=name, window=window, **results[name])
            announce(self, context, f"snowflake://{self.snowflake_conn_id}/{name}",
                     {"table": name, "window": window, "run_id": context["ti"].run_id, **results[name]},
                     uri=f"{where}/{name}")
        # Each export's mark moves once all its tables are loaded with no row left out.
        left_out = {plan["spec"].export for plan in plans if plan["rejected"]}
        for export, source in staged.items():
            if source and export not in left_out:
                commit_watermark(context, source.get("watermark"), logger=self.log)
        if left_out:
            raise AirflowException(
                f"rows that could not be loaded (row_rejected AUDIT lines: table, recordno, why) in "
                f"{', '.join(sorted(p['spec'].name for p in plans if p['rejected']))}; the "
                "other rows are committed. Their exports' watermarks stay, so the next run reads them again.")
        return {"tables": results, "session_statements": cursor.counts.get("_session", 0)}

    def _prepare(self, cursor: CountingCursor, spec: TableSpec, uri: str, folder: Path, tag: str,
                 context: Context) -> dict[str, Any]:
        """DDL for one table and its staging CSV; the plan the load and MERGE steps follow."""
        cursor.table = spec.name
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() "
                       f"AND table_name = '{spec.name.upper()}'")
        existing = {str(row[0]).lower() for row in cursor.fetchall()}
        known = {name for name, _, _ in spec.columns()} | set(SYSTEM_COLUMNS)
        seen: dict[str, str] = {}
        for record in source_records(spec, staged_records(uri)):
            for field, value in record.items():
                if not isinstance(value, (dict, list)) and column_name(field) not in known:
                    seen.setdefault(column_name(field), field)
        new = [field for name, field in sorted(seen.items()) if name not in existing]
        if new and self.new_fields == "refuse":
            raise AirflowFailException(
                f"table {spec.name}: Intacct now sends field(s) {', '.join(new)} that have no column. Nothing was "
                "loaded. Trigger with new_fields=add to add them as columns (their values are kept in _raw until "
                "then), or keep refusing and ignore them by not selecting them in Intacct.")
        extra = [field for name, field in sorted(seen.items())]
        columns = spec.columns(extra)
        added: list[str] = []
        if not existing:
            cursor.execute(create_table_sql(spec, columns, self.timezone))
        else:
            for name, sql_type, _ in columns:
                if name not in existing:
                    cursor.execute(f"ALTER TABLE {spec.name} ADD COLUMN {name} {sql_type}")
                    added.append(name)
            columns = [c for c in columns if c[0] in existing or c[0] in added]
        if added:
            audit("columns_added", context, logger=self.log, table=spec.name, columns=added)
        temporary = self.merge_via != "sql_api"
        stage = f"mlc_stg_{spec.name}_{tag}"
        if not temporary:
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(staging_sql(stage, columns, temporary=temporary))
        path = folder / f"{spec.name}.csv"
        rows, rejected = self._write_csv(path, spec, columns, uri, context)
        plan = {"spec": spec, "columns": columns, "stage": stage, "file": path, "rows": rows, "rejected": rejected,
                "added": added}
        if spec.obj in CHILDREN:  # the parents of this load, so that children they no longer have are marked
            plan["parents"], plan["parents_file"] = f"mlc_par_{spec.name}_{tag}", folder / f"{spec.name}_parents.csv"
            if not temporary:
                cursor.execute(f"DROP TABLE IF EXISTS {plan['parents']}")
            cursor.execute(keys_table_sql(plan["parents"], temporary=temporary))
            with plan["parents_file"].open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(["recordno"])
                writer.writerows([key] for key in parent_keys(staged_records(uri)) if key not in (None, ""))
        return plan

    def _write_csv(self, path: Path, spec: TableSpec, columns: Sequence[tuple[str, str, str]], uri: str,
                   context: Context) -> tuple[int, int]:
        rows = rejected = 0
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([name for name, _, _ in columns] + ["_raw"])
            for record in source_records(spec, staged_records(uri)):
                try:
                    values = [cell(record.get(field), sql_type) for _, sql_type, field in columns]
                except ValueError as exc:
                    rejected += 1
                    audit("row_rejected", context, logger=self.log, table=spec.name, recordno=record.get("RECORDNO"),
                          error=str(exc))
                    continue
                writer.writerow(["" if v is None else v for v in values] + [raw_json(record)])
                rows += 1
        return rows, rejected

    @staticmethod
    def _deleted(staged: dict[str, Any] | None) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        if staged:
            for record in staged_records(staged["uri"]):
                found.setdefault(str(record["OBJECT"]), []).append(int(record["RECORDNO"]))
        return found

    def _merge_all(self, cursor: CountingCursor, plans: list[dict[str, Any]], deletes: dict[str, list[int]],
                   hook: Any) -> dict[str, dict[str, Any]]:
        statements: dict[str, list[str]] = {}
        for plan in plans:
            spec: TableSpec = plan["spec"]
            sql = [merge_sql(spec, plan["stage"], plan["columns"]) if plan["rows"] else ""]
            if plan.get("parents"):
                sql.append(orphaned_children_sql(spec, plan["stage"], plan["parents"]))
            gone = deletes.get(CHILDREN[spec.obj][0] if spec.obj in CHILDREN else spec.obj, [])
            if gone:
                key = column_name(CHILDREN[spec.obj][2]) if spec.obj in CHILDREN else "recordno"
                sql.append(f"UPDATE {spec.name} SET _deleted = TRUE, _synced_at = CURRENT_TIMESTAMP()::TIMESTAMP_NTZ "
                           f"WHERE {key} IN ({', '.join(str(k) for k in sorted(set(gone)))}) AND NOT _deleted")
            if self.full_refresh and self.full_refresh == spec.name and not plan["rows"]:
                self.log.warning("Full refresh of %s read no record from Intacct: not marking every row deleted",
                                 spec.name)
            elif self.full_refresh and self.full_refresh == spec.name:
                sql.append(f"UPDATE {spec.name} SET _deleted = TRUE, _synced_at = CURRENT_TIMESTAMP()::TIMESTAMP_NTZ "
                           f"WHERE NOT _deleted AND recordno NOT IN (SELECT recordno::NUMBER(38,0) FROM {plan['stage']})")
            statements[spec.name] = sql
        if self.merge_via == "sql_api":
            return self._via_sql_api(cursor, plans, statements)
        results = {}
        for plan in plans:
            name = plan["spec"].name
            cursor.table = name
            inserted = updated = 0
            if statements[name][0]:
                cursor.execute(statements[name][0])
                inserted, updated = (int(v) for v in (cursor.fetchall() or [(0, 0)])[0][:2])
            marked = 0
            for sql in statements[name][1:]:
                cursor.execute(sql)
                marked += int((cursor.fetchall() or [(0,)])[0][0])
            results[name] = {"inserted": inserted, "updated": updated, "deleted": marked}
        return results

    def _via_sql_api(self, cursor: CountingCursor, plans: list[dict[str, Any]],
                     statements: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        """Commit the staging tables, run each table's statements through the SQL API, drop the staging."""
        from mlc.hooks.snowflake_sql_api import MlcSnowflakeSqlApiHook

        cursor.cursor.connection.commit()
        api = MlcSnowflakeSqlApiHook(snowflake_conn_id=self.snowflake_conn_id, **self.sql_api_kwargs)
        results = {}
        for plan in plans:
            name = plan["spec"].name
            rows = api.run_statements([sql for sql in statements[name] if sql]) if any(statements[name]) else []
            if not statements[name][0]:
                rows = [[(0, 0)], *rows]  # no MERGE when nothing was staged
            first = rows[0][0] if rows and rows[0] else (0, 0)  # the MERGE's one row: inserted, updated
            inserted, updated = int(first[0]), int(first[1])
            marked = sum(int(r[0][0]) for r in rows[1:] if r)
            results[name] = {"inserted": inserted, "updated": updated, "deleted": marked,
                             "api_statements": len([sql for sql in statements[name] if sql])}
            cursor.table = name
            cursor.execute(f"DROP TABLE IF EXISTS {plan['stage']}")
            if plan.get("parents"):
                cursor.execute(f"DROP TABLE IF EXISTS {plan['parents']}")
        return results


def table_uri_prefix(hook: Any, conn_id: str) -> str:
    """``snowflake://<account>/<database>/<schema>``: the asset URI of the connection's schema, as the Snowflake
    provider names tables."""
    conn = hook.get_connection(conn_id)
    extra = conn.extra_dejson
    return f"snowflake://{extra.get('account')}/{extra.get('database')}/{conn.schema or extra.get('schema')}"
