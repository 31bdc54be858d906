"""The DAG reader: runs in the environment's VPC and reads Airflow's view of the DAGs for the DAG sync.

MWAA refuses InvokeRestApi from outside the VPC when the environment's web server is private (the MWAA
user guide's REST API page), and the sync runs in the tools account, outside it. This function, in the
environment's private subnets, asks for the sync: GET only, only the three read-only endpoints the
live wait uses, with a role that may call InvokeRestApi as Airflow's Viewer of this environment alone.
The answer is InvokeRestApi's own ({RestApiStatusCode, RestApiResponse}) or {"Error": {Code, Message}}.
"""

from __future__ import annotations

import os
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

READ_ONLY_PATHS = re.compile(r"/dags|/importErrors|/dagSources/[^/?#]{1,250}")
QUERY_VALUE = (str, int)

# InvokeRestApi goes to MWAA's env. host; an endpoint set by hand (AWS_ENDPOINT_URL_MWAA) takes it as it is.
_client = boto3.client(
    "mwaa",
    config=Config(
        inject_host_prefix=not os.environ.get("AWS_ENDPOINT_URL_MWAA"),
        retries={"mode": "standard", "total_max_attempts": 1},  # the caller's rounds retry and back off
    ),
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = event.get("Path")
    query = event.get("QueryParameters") or {}
    if not isinstance(path, str) or not READ_ONLY_PATHS.fullmatch(path):
        return _error("PathNotAllowed", f"only GET /dags, /importErrors and /dagSources/<dag_id> are read: {path!r}")
    if not isinstance(query, dict) or not all(isinstance(v, QUERY_VALUE) for v in query.values()):
        return _error("QueryNotAllowed", "query parameters must be strings or whole numbers")
    try:
        answer = _client.invoke_rest_api(
            Name=os.environ["ENVIRONMENT_NAME"], Path=path, Method="GET", QueryParameters=query
        )
    except ClientError as error:
        details = error.response.get("Error", {})
        return _error(str(details.get("Code", "ClientError")), str(details.get("Message", error)))
    except BotoCoreError as error:
        return _error(type(error).__name__, str(error))
    return {"RestApiStatusCode": answer.get("RestApiStatusCode"), "RestApiResponse": answer.get("RestApiResponse")}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}
