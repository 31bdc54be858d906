#!/usr/bin/env python3
"""CDK entry point: validate the config, then build the app (no credentials or lookups needed)."""

from __future__ import annotations

import os
import sys

from config import ConfigError, load_config


def main() -> int:
    try:
        project = load_config(os.environ.get("MWAA_CONFIG"))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    from aws_cdk import App

    from stages import FAIL_ON_FINDINGS, MwaaStage, add_security_checks

    app = App(post_cli_context=FAIL_ON_FINDINGS)
    for env_config in project.environments:
        MwaaStage(app, env_config=env_config)
    add_security_checks(app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
