"""A boto3 session from the standard AWS settings, through an assumed role when one is given.

Shared by the DAG sync and the pipeline's other CodeBuild steps (deploytools/).
"""

from __future__ import annotations

import os
from typing import Any


def session_for(*, role_arn: str | None, region: str | None, session_name: str, profile: str | None = None) -> Any:
    """Timestamps in answers stay the strings AWS sent: nothing here reads them as dates, and botocore
    parses each with dateutil, a third of the cost of reading a listing of 1,000 objects."""
    import boto3
    import botocore.session

    def raw_timestamps() -> Any:
        core = botocore.session.Session()
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        return core

    session = boto3.session.Session(profile_name=profile, region_name=region, botocore_session=raw_timestamps())
    if not role_arn:
        return session
    credentials = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
        botocore_session=raw_timestamps(),
    )


def mwaa_client(session: Any) -> Any:
    """MWAA sends some calls to a prefixed host (api., env.); an endpoint set by hand
    (AWS_ENDPOINT_URL_MWAA, a local test server) takes them as they are."""
    from botocore.config import Config

    return session.client("mwaa", config=Config(inject_host_prefix=not os.environ.get("AWS_ENDPOINT_URL_MWAA")))
