"""requirements.txt, plugins.zip and startup.sh: uploaded beside dags/, referenced by object version.

MWAA applies a new requirements, plugins or startup file only on an environment update, and only
when the object version it is given changes. Each file is a CDK asset (content-hashed) that a custom
resource copies to its fixed key, returning the new VersionId; so an unchanged file leaves the
template, and the environment, untouched, and a changed one changes exactly its own uploader.
requirements.txt and startup.sh are copied as they are (MWAA cannot read them zipped); plugins/ is
zipped reproducibly first. These travel with the main pipeline only; the DAG sync never touches them.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from aws_cdk import aws_iam as iam, aws_kms as kms, aws_s3 as s3, aws_s3_assets as s3_assets, custom_resources as cr
from constructs import Construct

FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no build time leaks into the bytes


def reproducible_zip(folder: Path, target: Path) -> Path:
    """Zip `folder` so the same content always gives the same bytes (fixed order, times and modes)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=FIXED_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return target


class VersionedObject(Construct):
    """Copies one local file to `key` in the bucket and exposes the S3 object version it got."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        path: Path,
        bucket: s3.IBucket,
        key: str,
        encryption_key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        asset = s3_assets.Asset(self, "Asset", path=str(path))
        copy = cr.AwsSdkCall(
            service="S3",
            action="copyObject",
            parameters={
                "Bucket": bucket.bucket_name,
                "Key": key,
                "CopySource": f"{asset.s3_bucket_name}/{asset.s3_object_key}",
            },
            physical_resource_id=cr.PhysicalResourceId.of(key),
            output_paths=["VersionId"],
        )
        statements = [
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]
            ),
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(key)]),
        ]
        if encryption_key:
            statements.append(
                iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[encryption_key.key_arn])
            )
        self.upload = cr.AwsCustomResource(
            self,
            "Upload",
            on_create=copy,
            on_update=copy,
            policy=cr.AwsCustomResourcePolicy.from_statements(statements),
            install_latest_aws_sdk=False,
        )
        self.key = key
        self.version = self.upload.get_response_field("VersionId")


class MwaaFiles(Construct):
    """The optional files of one environment, found in its folder (default mwaa/<stage>/)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: Path,
        bucket: s3.IBucket,
        encryption_key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)

        def upload(name: str, path: Path, key: str) -> VersionedObject | None:
            if not path.exists():
                return None
            return VersionedObject(self, name, path=path, bucket=bucket, key=key, encryption_key=encryption_key)

        self.requirements = upload("Requirements", folder / "requirements.txt", "requirements.txt")
        self.startup_script = upload("StartupScript", folder / "startup.sh", "startup.sh")
        self.plugins = None
        if (folder / "plugins").is_dir():
            built = reproducible_zip(folder / "plugins", Path(tempfile.mkdtemp(prefix="mwaa-plugins-")) / "plugins.zip")
            self.plugins = upload("Plugins", built, "plugins.zip")
