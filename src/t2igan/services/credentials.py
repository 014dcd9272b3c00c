"""Team mode's credentials: generated at the first start, kept in team.env (mode 0600) and nowhere else.

Every secret travels as an environment variable that its client library reads by itself, so no URL, process
argument, MLflow tag or Prefect parameter ever has to carry one:

- PostgreSQL: `PGPASSWORD` (libpq, hence psycopg2, and asyncpg read it); the URLs name only user and host;
- MLflow: `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (the basic-auth app's admin, or a user
  made by `t2igan services user add`);
- Prefect: `PREFECT_API_AUTH_STRING` (`user:password`, which the server compares with its own);
- S3: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (boto3, s3fs; DVC gets them in `.dvc/config.local`).

The servers keep only what they must: PostgreSQL a SCRAM verifier, MLflow a password hash, moto its IAM keys;
the Prefect server is given its string from this file at each start.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from t2igan.errors import ConfigError
from t2igan.io import write_private_text

POSTGRES_PASSWORD = "PGPASSWORD"
MLFLOW_USERNAME = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
PREFECT_AUTH = "PREFECT_API_AUTH_STRING"
S3_KEY_ID = "AWS_ACCESS_KEY_ID"
S3_SECRET = "AWS_SECRET_ACCESS_KEY"
S3_REGION = "AWS_DEFAULT_REGION"

ADMIN = "admin"  # MLflow's administrator: the account the servers' own worker and `services` commands use
PREFECT_USER = "team"
REGION = "us-east-1"
HEADER = "# t2igan team mode: addresses and credentials (keep it 0600; give it only to the team's members)"


def new_secret() -> str:
    """32 random bytes, URL-safe: no character that a URL, an env file or a shell would need to quote."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Credentials:
    postgres: str
    mlflow_admin: str
    prefect: str  # the password half of Prefect's `user:password` auth string
    s3_key_id: str | None = None  # moto's IAM keys exist once its server runs: filled in then
    s3_secret: str | None = None

    @classmethod
    def generate(cls) -> Credentials:
        return cls(new_secret(), new_secret(), new_secret())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials | None:
        """The credentials a team.env holds, or None when it has none (a file from before they existed)."""
        auth = env.get(PREFECT_AUTH, "")
        if not (env.get(POSTGRES_PASSWORD) and env.get(MLFLOW_PASSWORD) and ":" in auth):
            return None
        return cls(
            env[POSTGRES_PASSWORD],
            env[MLFLOW_PASSWORD] if env.get(MLFLOW_USERNAME) == ADMIN else "",
            auth.split(":", 1)[1],
            env.get(S3_KEY_ID),
            env.get(S3_SECRET),
        )

    def rotated(self) -> Credentials:
        """New passwords; the S3 keys change through IAM (`s3.rotate_keys`), so they are kept here."""
        return replace(self, postgres=new_secret(), mlflow_admin=new_secret(), prefect=new_secret())

    @property
    def prefect_auth(self) -> str:
        return f"{PREFECT_USER}:{self.prefect}"

    def postgres_env(self) -> dict[str, str]:
        return {POSTGRES_PASSWORD: self.postgres}

    def mlflow_env(self) -> dict[str, str]:
        return {MLFLOW_USERNAME: ADMIN, MLFLOW_PASSWORD: self.mlflow_admin}

    def prefect_env(self) -> dict[str, str]:
        return {PREFECT_AUTH: self.prefect_auth}

    def s3_env(self) -> dict[str, str]:
        if not (self.s3_key_id and self.s3_secret):
            return {}
        return {S3_KEY_ID: self.s3_key_id, S3_SECRET: self.s3_secret, S3_REGION: REGION}

    def secrets(self) -> set[str]:
        """Every value that must never be seen outside team.env (what the leak scans look for)."""
        return {value for value in (self.postgres, self.mlflow_admin, self.prefect, self.s3_secret) if value}


def read_env_file(path: Path) -> dict[str, str]:
    """A team.env as a dict; a missing file is an empty one."""
    if not path.is_file():
        return {}
    pairs = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {line[:40]!r}")
        pairs[key.strip()] = value
    return pairs


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """`KEY=value` lines, mode 0600: `include`d by the Makefile, or `set -a; . team.env; set +a` in a shell."""
    lines = [HEADER, *(f"{key}={value}" for key, value in sorted(env.items()))]
    write_private_text(path, "\n".join(lines) + "\n")
