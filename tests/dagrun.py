"""Driving a DAG run in tests the way a person does in the UI."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def load_dag(dag_id: str):
    """The DAG ``dag_id`` of ``dags/<integration>.py`` (a partner's DAG ``<integration>__<partner>`` comes from its
    integration's file), its tasks with no Airflow retries (``dag.test()`` would sit out the retry delays; a hook's
    own retries still run)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / f"{dag_id.split('__')[0]}.py"), safe_mode=False).dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
    return dag


def load_partner_dag(dag_id: str, profile: str, folder: Path):
    """``dag_id`` built from ``profile`` (a partner profile's YAML, written into ``folder`` as the only profile), the
    way the DAG processor builds it from include/partners; its tasks with no Airflow retries."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    if "__" in dag_id:  # a DAG that only reads the profiles (mlc_resend) is built from those already there
        (folder / f"{dag_id.split('__')[1]}.yaml").write_text(profile)
    before = os.environ.get("MLC_PARTNERS_DIR")
    os.environ["MLC_PARTNERS_DIR"] = str(folder)
    try:
        return load_dag(dag_id)
    finally:
        if before is None:
            os.environ.pop("MLC_PARTNERS_DIR")
        else:
            os.environ["MLC_PARTNERS_DIR"] = before


def clear_and_rerun(run, dag, task_id: str) -> str:
    """What a person does in the UI after a failure: *Clear* the task of that run, and it runs again.
    Returns the task's new state."""
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = next(t for t in run.get_task_instances(session=session) if t.task_id == task_id)
        clear_task_instances([ti], session)
        session.commit()
    with create_session() as session:
        ti = next(t for t in run.get_task_instances(session=session) if t.task_id == task_id)
        ti.try_number += 1
        ti.state = "scheduled"
        session.commit()
        _run_task(ti=ti, task=dag.task_dict[task_id])
    return {t.task_id: t.state for t in run.get_task_instances()}[task_id]


def replay_failed(run, dag) -> bool:
    """What the README tells a person to do after a failed run: clear each failed task of that run (with what is
    downstream of it, which never ran), and they run again, upstream first. Whether every one of them succeeded
    or was skipped. The watcher and needs_a_person, which only state the run's verdict, are left out."""
    states = {t.task_id: t.state for t in run.get_task_instances()}
    failed = [task_id for task_id, state in states.items() if state in ("failed", "upstream_failed")]
    again = set(failed)
    for task_id in failed:
        again |= {t.task_id for t in dag.task_dict[task_id].get_flat_relatives(upstream=False)}
    again -= {"needs_a_person", "watcher"}
    order: list[str] = []
    while len(order) < len(again):  # upstream first
        for task_id in sorted(again - set(order)):
            if not (dag.task_dict[task_id].upstream_task_ids & (again - set(order))):
                order.append(task_id)
    return all(clear_and_rerun(run, dag, task_id) in ("success", "skipped") for task_id in order)


def asset_events(run_id: str) -> list[tuple[str, dict, str]]:
    """(asset name, extra, source task) of each asset event a run emitted, from Airflow's metadata database."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(sa.select(AssetModel.name, AssetEvent.extra, AssetEvent.source_task_id)
                               .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetEvent.source_run_id == run_id)).all()
    return [(name, dict(extra or {}), task) for name, extra, task in rows]
