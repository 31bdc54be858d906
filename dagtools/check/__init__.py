"""The DAG check: the Airflow venvs that follow MWAA's image (airflow_venv.py), the parse inside one
(airflow_probe.py, run by that venv's Python) and the rules judged on its report (command.py)."""
