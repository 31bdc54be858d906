"""DAGs on this machine: `dag-test` runs them once (airflow_dag_test.py, run by the venv's Python) and
`airflow` starts Airflow's components with the DAG folder live (command.py)."""
