"""ml-connector: Airflow 3 hooks, operators, formats and state for accounts-payable integrations.

``mlc.hooks`` speak one external system each, ``mlc.formats`` turn records into files and back (no
Airflow, no database), ``mlc.state`` keeps what outlives a task (ledgers, control numbers, tokens),
``mlc.operators`` wire them for the DAGs in ``dags/``; ``mlc.cli`` is the ``mlc`` command.
"""

VERSION = "0.11.0"
