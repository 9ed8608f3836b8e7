"""State that outlives a task and is shared by every worker, in ml-connector's own database.

* :mod:`mlc.state.schema`: where it lives (``MLC_STATE_URL``) and every table, created by one
  :func:`~mlc.state.schema.ensure_tables`;
* :mod:`mlc.state.ledgers`: which file reached which destination, which inbound file was processed;
* :mod:`mlc.state.control_numbers`: EDI interchange and group control numbers;
* :mod:`mlc.state.exact_tokens`: Exact Online's rotating token pair, encrypted, under a lease.

Tasks never touch Airflow's metadata database for this: Airflow 3 keeps tasks out of it, and this
state belongs to ml-connector.
"""
