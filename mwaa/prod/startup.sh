#!/bin/sh
# Runs on every scheduler, worker and web server before Airflow starts (MWAA startup script).
# Keep it fast and idempotent: it delays every container start.
export DATA_PLATFORM_STAGE="prod"
