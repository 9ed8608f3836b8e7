"""Every DAG in dags/ imports cleanly, looks nothing up while it does, and carries the settings an operator
relies on. How fast each file imports is a figure of ``make bench`` (bench/dag_import_bench.py), not a test."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)


def test_there_are_dags():
    assert DAG_FILES, "dags/ holds no DAG file"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


@pytest.fixture(scope="module")
def fresh_imports() -> dict[str, str]:
    """Each DAG file imported in a fresh interpreter with no connection defined and ``get_connection``
    refusing: file name -> "" when it imported, else the error. One interpreter for all files."""
    probe = (
        "import importlib.util, json, sys, traceback, airflow.sdk\n"
        f"sys.path[:0] = [{str(REPO / 'plugins')!r}, {str(REPO / 'dags')!r}]\n"
        "from airflow.sdk import BaseHook\n"
        "def _refuse(*a, **k): raise RuntimeError('connection looked up at import time')\n"
        "BaseHook.get_connection = staticmethod(_refuse)\n"
        "errors = {}\n"
        f"for n, path in enumerate({[str(p) for p in DAG_FILES]!r}):\n"
        "    spec = importlib.util.spec_from_file_location(f'dag_under_test_{n}', path)\n"
        "    try:\n"
        "        spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "        errors[path.rsplit('/', 1)[-1]] = ''\n"
        "    except Exception:\n"
        "        errors[path.rsplit('/', 1)[-1]] = traceback.format_exc()[-2000:]\n"
        "print(json.dumps(errors))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_each_file_imports_without_connections(path, fresh_imports):
    """Importing a DAG file does no I/O: no connection is looked up, nothing else fails."""
    assert fresh_imports[path.name] == ""


def _dags(dagbag):
    return sorted(dagbag.dags.values(), key=lambda d: d.dag_id)


def test_owner_tags_and_doc(dagbag):
    for dag in _dags(dagbag):
        assert dag.default_args.get("owner") not in (None, "", "airflow"), dag.dag_id
        assert dag.tags and "ml-connector" in dag.tags, dag.dag_id
        doc = dag.doc_md or ""
        assert len(doc) > 300 and "#" in doc, f"{dag.dag_id}: doc_md must tell a person what the DAG does"


def test_every_task_ends_its_log_saying_what_it_did(dagbag):
    from mlc.operators.audit import log_summary

    for dag in _dags(dagbag):
        assert dag.default_args.get("post_execute") is log_summary, dag.dag_id


def test_retries_with_exponential_backoff(dagbag):
    for dag in _dags(dagbag):
        assert (dag.default_args.get("retries") or 0) >= 2, dag.dag_id
        assert dag.default_args.get("retry_exponential_backoff") is True, dag.dag_id
        for task in dag.tasks:
            if task.task_id == "watcher":  # it only states the run's verdict: nothing to retry
                assert task.retries == 0 and task.upstream_task_ids == {"needs_a_person"}
                continue
            assert task.retries >= 2 and task.retry_exponential_backoff, f"{dag.dag_id}.{task.task_id}"


def test_a_failed_task_fails_the_run_even_when_the_last_task_runs_all_done(dagbag):
    for dag in _dags(dagbag):
        leaves_all_done = [t for t in dag.tasks if not t.downstream_list and t.trigger_rule == "all_done"]
        if dag.dag_id not in ON_DEMAND | ON_DATA:  # a person triggered those and watches them (or is asked by one)
            watcher = dag.task_dict.get("watcher")
            assert watcher is not None, f"{dag.dag_id}: no watcher to fail the run and report its failures"
            report = dag.task_dict["needs_a_person"]
            assert report.trigger_rule == "one_failed" and report.downstream_list == [watcher]
            for task in dag.tasks:  # every failure reaches it, directly or as upstream_failed down the graph
                if task not in (report, watcher):
                    assert _failure_reaches(task, report), f"{dag.dag_id}.{task.task_id}"
        assert not leaves_all_done, dag.dag_id


def _failure_reaches(task, report) -> bool:
    """Whether ``task`` failing makes ``report`` run (``one_failed`` counts failed and upstream_failed): directly
    above it, or above a task that turns a failure into upstream_failed and whose own state reaches it."""
    return any(down is report or (down.trigger_rule in ("all_success", "none_failed", "none_failed_min_one_success")
                                  and _failure_reaches(down, report)) for down in task.downstream_list)


def test_the_graph_shows_a_box_per_document_and_the_watcher_below_what_could_hide_a_failure(dagbag):
    """Exports are task groups whose tasks keep their ids; the watcher's report hangs below the deliveries and the
    all_done task, not below every extract and render (the graph is drawn with a handful of edges into it)."""
    dag = dagbag.dags["intacct_to_sftp__acme"]
    for export in ("vendors", "bills"):
        group = dag.task_group_dict[export]
        assert sorted(group.children) == [f"deliver_{export}", f"extract_{export}", f"render_{export}"]
    assert sorted(dag.task_dict["needs_a_person"].upstream_task_ids) == sorted(
        ["poll_acks", *(f"deliver_{e}" for e in dag.params["exports"])])
    sterling = dagbag.dags["intacct_to_sterling__sterling_hub"]
    assert sorted(sterling.task_dict["needs_a_person"].upstream_task_ids) == ["sync_partners", "upload_bills"]
    stampli = dagbag.dags["stampli_to_intacct"]
    assert sorted(stampli.task_group_dict) == ["invoices", "payments"]
    assert stampli.task_dict["pick_up_payments"].upstream_task_ids == {"post_invoices"}
    snowflake = dagbag.dags["intacct_to_snowflake"]
    assert set(snowflake.task_dict["load_snowflake"].upstream_task_ids) == set(
        snowflake.task_group_dict["extracts"].children)


ON_DEMAND = {"mlc_resend"}  # triggered by a person only, one run per request
ON_DATA = {"mlc_needs_a_person"}  # a run per asset event (a report of work for a person)
POLLING = {"stampli_to_intacct", "sterling_mailbox_poll"}  # they take what is there when they look; no data window to extract


def test_data_interval_timetable_and_one_active_run(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

    for dag in _dags(dagbag):
        if dag.dag_id in ON_DEMAND:
            assert type(dag.timetable).__name__ == "NullTimetable", dag.dag_id
            continue
        if dag.dag_id in ON_DATA:
            assert type(dag.timetable).__name__ == "AssetTriggeredTimetable", dag.dag_id
            continue
        expected = CronTriggerTimetable if dag.dag_id in POLLING else CronDataIntervalTimetable
        assert isinstance(dag.timetable, expected), dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_catchup_is_decided_on_purpose(path):
    """``catchup`` is passed explicitly in the DAG file, with a comment saying why."""
    source = path.read_text()
    keywords = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.keyword) and n.arg == "catchup"]

    assert keywords, f"{path.name} leaves catchup to the default"
    line = keywords[0].value.lineno
    lines = source.splitlines()
    assert lines[line - 2].strip().startswith("#") or "#" in lines[line - 1], f"{path.name}: say why catchup is set"


def test_every_task_tells_a_person_when_it_fails_for_good(dagbag):
    from mlc.operators.alerts import MlcAlertNotifier

    for dag in _dags(dagbag):
        for task in dag.tasks:
            if task.task_id == "watcher":
                continue  # the failed task before it already alerted
            failure = task.on_failure_callback if isinstance(task.on_failure_callback, list) else [task.on_failure_callback]
            success = task.on_success_callback if isinstance(task.on_success_callback, list) else [task.on_success_callback]
            assert any(isinstance(c, MlcAlertNotifier) and c.on == "failure" for c in failure), f"{dag.dag_id}.{task.task_id}"
            assert any(isinstance(c, MlcAlertNotifier) and c.on == "success" for c in success), f"{dag.dag_id}.{task.task_id}"


def test_every_export_a_form_offers_has_a_mapping_that_loads(dagbag):
    """An export offered in the trigger form without a ``<export>_mapping`` Param failed the run with
    ``UndefinedError: 'dict object' has no attribute 'payments_mapping'``."""
    from mlc.formats.mapping import load_mapping, mapping_path

    for dag in _dags(dagbag):
        exports = dag.params.get_param("exports") if "exports" in dag.params else None
        if exports is None:
            continue
        for export in exports.schema["items"]["enum"]:
            name = dag.params.get(f"{export}_mapping")
            assert name, f"{dag.dag_id} offers {export} without a {export}_mapping Param"
            assert load_mapping(mapping_path(name))["format"], (dag.dag_id, export)


def test_every_param_guides_the_person_filling_the_form(dagbag):
    """A title and a description on each Param; a mapping chosen from the files that exist."""
    from mlc.formats.mapping import mapping_path

    missing = []
    for dag in _dags(dagbag):
        for name, param in dag.params.items():
            schema = param.schema
            if not schema.get("title") or not param.description:
                missing.append(f"{dag.dag_id}.{name}")
            if name.endswith("_mapping"):
                choices = schema.get("enum") or []
                assert param.value in choices and len(choices) >= 1, (dag.dag_id, name, choices)
                assert all(mapping_path(choice).is_file() for choice in choices), (dag.dag_id, name)
    assert missing == []


def test_a_folder_param_refuses_a_path_that_climbs_out(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    folders = [(dag.dag_id, name, param) for dag in _dags(dagbag) for name, param in dag.params.items()
               if name in ("remote_dir", "acks_dir", "processed_dir")]
    assert len(folders) >= 9  # each SFTP partner DAG's folders, mlc_resend's and the connection check's
    for dag_id, name, param in folders:
        for good in ("outbound", "northwind/in", "acks/processed", "a.b_c-d"):
            assert param.resolve(good) == good, (dag_id, name)
        empty_means_as_sent = dag_id == "mlc_resend"  # there, no folder: the one the file went to
        for bad in ("../etc", "outbound/../../etc", "..", "a/..", "out bound", *([] if empty_means_as_sent else [""])):
            with pytest.raises(ParamValidationError):
                param.resolve(bad)


@pytest.mark.parametrize(("value", "expected"), [(None, 0.0), ("15", 15.0), (1440, 1440.0), (-1, "between 0 and"),
                                                 (1441, "between 0 and"), ("a day", "a number of minutes")])
def test_an_overlap_out_of_range_is_refused_not_clamped(value, expected):
    from airflow.sdk.exceptions import AirflowFailException

    from mlc.operators.extract_base import overlap_minutes

    if isinstance(expected, float):
        assert overlap_minutes(value) == expected
    else:
        with pytest.raises(AirflowFailException, match=expected):
            overlap_minutes(value)


def test_work_for_a_person_reaches_required_actions_with_what_where_and_what_to_do(dagbag):
    from types import SimpleNamespace

    from mlc.operators.attention import NEEDS_A_PERSON

    dag = dagbag.dags["mlc_needs_a_person"]
    task = dag.get_task("acknowledge")
    assert [a.name for a in dag.timetable.asset_condition.objects] == [NEEDS_A_PERSON.name]  # a run per report
    assert (task.options, task.defaults, task.response_timeout.days) == (["Handled", "Later"], ["Later"], 7)
    events = {NEEDS_A_PERSON: [SimpleNamespace(extra={
        "dag_id": "stampli_to_intacct", "run_id": "scheduled__2026-11-30T05:00:00+00:00", "task_id": "post_invoices",
        "items": [{"what": "invoices_1130.csv: 2 of 10 rows rejected", "do": "Open the error report errors/x.csv"}]})]}
    env = dag.get_template_env()
    subject = task.render_template(task.subject, {"triggering_asset_events": events}, env)
    body = task.render_template(task.body, {"triggering_asset_events": events}, env)
    assert subject == "ml-connector: 1 report(s) need a person"
    assert "**stampli_to_intacct**, run `scheduled__2026-11-30T05:00:00+00:00`, task `post_invoices`" in body
    assert "1. invoices_1130.csv: 2 of 10 rows rejected" in body and "*What to do:* Open the error report" in body
