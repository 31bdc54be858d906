"""Publishing a DAG folder to an environment's bucket: the source scan (source.py), the S3 side by content
hash with its manifest (engine.py), and the `sync` command (command.py)."""
