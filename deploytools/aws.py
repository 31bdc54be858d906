"""boto3 clients for a target account, through an assumed role when one is given."""

from __future__ import annotations

from typing import Any


def client_for(service: str, *, role_arn: str | None, region: str | None, session_name: str) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region)
    if role_arn:
        credentials = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
    return session.client(service)
