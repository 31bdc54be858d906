"""The delivery pipelines (tools account): the self-mutating main pipeline and the DAG-only pipeline."""
