"""What an environment's Airflow serves: the wait until synced DAG files are live (wait.py), through MWAA's
InvokeRestApi or the environment's DAG reader function, and the `status` command (status.py)."""
