"""AWS sessions from the standard AWS settings, through an assumed role when one is given.

Shared by the DAG sync and the pipeline's other CodeBuild steps (deploytools/). Built on botocore
alone: importing boto3 also imports s3transfer, 0.12 s of a sync that takes well under a second.
"""

from __future__ import annotations

import functools
import os
from typing import Any


class Session:
    """The part of boto3's Session the tools use: `client(name, config=...)`."""

    def __init__(self, core: Any) -> None:
        self.core = core

    def client(self, service: str, config: Any = None) -> Any:
        return self.core.create_client(service, config=config)


def session_for(*, role_arn: str | None, region: str | None, session_name: str, profile: str | None = None) -> Session:
    """Timestamps in answers stay the strings AWS sent: nothing here reads them as dates, and botocore
    parses each with dateutil, a third of the cost of reading a listing of 1,000 objects."""
    import botocore.session

    core = botocore.session.Session(profile=profile)
    core.register_component("data_loader", _loader(core.get_config_variable("data_path")))
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    if region:
        core.set_config_variable("region", region)
    if role_arn:
        sts = core.create_client("sts")
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        core.set_credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    return Session(core)


@functools.cache
def _loader(data_path: str | None) -> Any:
    """One loader of AWS's service models for every session of this process: each session would read
    and parse the same megabyte of JSON again (0.15 s)."""
    from botocore.loaders import create_loader

    return create_loader(data_path)


def mwaa_client(session: Session, *, attempts: int | None = None) -> Any:
    """MWAA sends some calls to a prefixed host (api., env.); an endpoint set by hand
    (AWS_ENDPOINT_URL_MWAA, a local test server) takes them as they are. `attempts` overrides the
    standard retry settings: the most attempts of one call in all (1: the caller retries itself)."""
    from botocore.config import Config

    retries = {"retries": {"mode": "standard", "total_max_attempts": attempts}} if attempts else {}
    return session.client(
        "mwaa", config=Config(inject_host_prefix=not os.environ.get("AWS_ENDPOINT_URL_MWAA"), **retries)
    )


CREDENTIALS_HELP = (
    "give AWS credentials with --profile NAME, AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(aws sso login first for an SSO profile)"
)


def error_code(error: Exception) -> str | None:
    """The error code of a botocore ClientError (AccessDenied, NoSuchKey, ...), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def describe_error(error: Exception) -> str:
    """An AWS error as one line; missing or unusable credentials say how to give them."""
    kind = error_code(error) or type(error).__name__
    if kind in ("NoCredentialsError", "ProfileNotFound", "PartialCredentialsError", "SSOTokenLoadError"):
        return f"{kind}: {error}: {CREDENTIALS_HELP}"
    return f"{kind}: {error}"
