# The ml-connector Airflow image for docker-compose.yaml: Airflow 3.3.2 on Python 3.11 plus the
# pinned dependency closure. dags/, plugins/ and include/ are mounted, not baked in, so a DAG
# change needs no rebuild. Build the sandbox image with --build-arg WITH_SANDBOX=true.
FROM apache/airflow:3.3.2-python3.11

ARG WITH_SANDBOX=false
COPY --chown=airflow:0 requirements.txt requirements-dev.txt /opt/mlc/
RUN pip install --no-cache-dir -r /opt/mlc/requirements.txt \
 && if [ "$WITH_SANDBOX" = "true" ]; then pip install --no-cache-dir -r /opt/mlc/requirements-dev.txt; fi
COPY --chown=airflow:0 sandbox /opt/mlc/sandbox
# ml-connector as a local provider (connection types in the UI): an editable install whose path entry is
# /opt/airflow/plugins, the folder docker-compose mounts, so the mounted code is what runs.
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 plugins /opt/airflow/plugins
RUN cd /opt/airflow && pip install --no-cache-dir --no-deps -e . --config-settings editable_mode=compat
ENV PYTHONPATH=/opt/mlc:/opt/airflow/plugins
