# Two commands for a fresh machine: `make synth` and `make test`. Both install what they need first
# (through scripts/install.sh, which the pipeline's synth step calls too) and are quiet when up to date.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.venv/bin:$(PATH)

.PHONY: install lock config-docs synth test lint dags-check dag-test airflow bench clean

install:
	@scripts/install.sh

# After a change to pyproject.toml's dependencies: a new uv.lock and its hashed exports.
lock: install
	@scripts/lock.sh

# After a change to config/schema.py: the JSON schema editors use and docs/config-reference.md.
config-docs: install
	@python scripts/config_docs.py

synth: install
	@scripts/synth.sh

test: install
	@scripts/test.sh

lint: install
	@scripts/lint.sh

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache

dags-check: install
	@scripts/dags-check.sh

# Run DAGs locally on an environment's Airflow (variables and connections from local/secrets.json), in one
# Airflow process; without DAG, every DAG in dags/:
#   make dag-test [DAG="<dag_id> ..."] [ENV=<key>] [DATE=2026-11-20] [SECRETS=path.json]
dag-test: install
	@python -m dagtools dag-test $(foreach dag,$(DAG),--dag $(dag)) $(if $(ENV),--environment $(ENV)) \
		$(if $(DATE),--date $(DATE)) $(if $(SECRETS),--secrets $(SECRETS))

# Airflow on this machine (127.0.0.1) with dags/ live; Ctrl-C stops it:
#   make airflow [ENV=<key>] [PORT=8080] [LISTEN=0.0.0.0, to open it to the network]
airflow: install
	@python -m dagtools airflow $(if $(ENV),--environment $(ENV)) $(if $(PORT),--port $(PORT)) \
		$(if $(LISTEN),--listen $(LISTEN)) $(if $(SECRETS),--secrets $(SECRETS))

bench: install
	@python -m bench.startup_bench
	@python -m bench.dagsync_bench
	@python -m bench.live_bench
	@python -m bench.scale_bench
	@python -m bench.dag_path_bench
