"""Small boto3-only programs the delivery pipeline runs in CodeBuild (never imports aws_cdk)."""
