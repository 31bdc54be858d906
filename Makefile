# Two commands for a fresh machine: `make synth` and `make test`. Both install what they need first
# (through scripts/install.sh, which the pipeline's synth step calls too) and are quiet when up to date.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.venv/bin:$(PATH)

.PHONY: install synth test lint dags-check bench clean

install:
	@scripts/install.sh

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

bench: install
	@python -m bench.dagsync_bench
