"""Team mode's S3 endpoint: moto's server with IAM authentication, one IAM user, and its access key.

moto enforces IAM authentication once it has answered `INITIAL_NO_AUTH_ACTION_COUNT` requests; the start
spends exactly those on making the team's IAM user, its policy and its first access key, so from then on a
request without that key (or with an old one) is refused (403). moto keeps everything in memory, keys and
objects alike: a restarted endpoint has a new key and an empty bucket. That is why it is the demo's and the
tests' store; a team points the DVC remote at real S3 or MinIO (README, "Team on several machines").
Rotation makes a new key with the old one, then deletes the old one, so no object is touched.
"""

from __future__ import annotations

import json
from typing import Any

from t2igan.errors import TransientError
from t2igan.services.credentials import REGION
from t2igan.services.layout import BUCKET

IAM_USER = "t2igan"
BOOTSTRAP_ACTIONS = 3  # CreateUser, PutUserPolicy, CreateAccessKey: all moto answers without a signature
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"],
            "Resource": "*",
        },
    ],
}


def server_env() -> dict[str, str]:
    """What moto's server needs to enforce authentication after the bootstrap's requests."""
    return {"INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_ACTIONS)}


def _client(service: str, endpoint: str, key_id: str, secret: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=REGION,
    )


def bootstrap_key(endpoint: str) -> tuple[str, str]:
    """The IAM user and its first access key, made with the requests moto answers unauthenticated."""
    iam = _client("iam", endpoint, "bootstrap", "bootstrap")  # not checked: the first requests are free
    iam.create_user(UserName=IAM_USER)
    iam.put_user_policy(UserName=IAM_USER, PolicyName="t2igan-team", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def rotate_key(endpoint: str, key_id: str, secret: str) -> tuple[str, str]:
    """A new access key, made with the current one, which is then deleted."""
    from botocore.exceptions import BotoCoreError, ClientError

    iam = _client("iam", endpoint, key_id, secret)
    try:
        new = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
        iam.delete_access_key(UserName=IAM_USER, AccessKeyId=key_id)
    except (BotoCoreError, ClientError) as error:
        raise TransientError(f"rotating the S3 key at {endpoint}: {error}") from None
    return new["AccessKeyId"], new["SecretAccessKey"]


def ensure_bucket(endpoint: str, key_id: str, secret: str) -> None:
    """The DVC remote's bucket (created once)."""
    s3 = _client("s3", endpoint, key_id, secret)
    if BUCKET not in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)


def accepts(endpoint: str, key_id: str, secret: str) -> bool:
    """Whether the endpoint takes this key (a listing of the team's bucket succeeds)."""
    from botocore.exceptions import ClientError

    try:
        _client("s3", endpoint, key_id, secret).list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    except ClientError:
        return False
    return True
