#!/usr/bin/env python3
"""CDK entry point: validate the config, then build the delivery pipeline and the stages it deploys.

No credentials or lookups are needed: accounts, regions and AZs all come from config.
"""

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

    from pipeline.assembly import build_app
    from stages import FAIL_ON_FINDINGS

    app = App(post_cli_context=FAIL_ON_FINDINGS)
    build_app(app, project)
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        # cdk-nag has printed each finding above; a jsii traceback would only bury them.
        report = f"{app.outdir}/validation-report.json"
        print(f"error: unacknowledged cdk-nag findings (above); report: {report}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
