"""`t2igan services user`: MLflow users of the team, each with a password and an env file of their own.

A user's file is team.env with the user's MLflow name and password in place of the administrator's: the
other servers have one credential for the whole team, MLflow one per person, so that the registry can say
who may move a model's aliases (`grant NAME MODEL EDIT`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from t2igan.errors import ConfigError
from t2igan.services import mlflow_auth, servers
from t2igan.services.credentials import (
    ADMIN,
    MLFLOW_PASSWORD,
    MLFLOW_USERNAME,
    Credentials,
    new_secret,
    read_env_file,
    write_env_file,
)
from t2igan.services.layout import ServicesLayout

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def user_env(team_env: Mapping[str, str], name: str, password: str) -> dict[str, str]:
    """A user's env file: the team's, with the user's MLflow name and password in place of the admin's."""
    return {**team_env, MLFLOW_USERNAME: name, MLFLOW_PASSWORD: password}


def user_files(layout: ServicesLayout) -> list[Path]:
    return sorted((layout.root / "users").glob("*.env"))


def refresh_files(layout: ServicesLayout, team_env: Mapping[str, str]) -> None:
    """Every user's file brought up to a rewritten team.env, each keeping its own MLflow credentials."""
    for path in user_files(layout):
        user = read_env_file(path)
        write_env_file(path, user_env(team_env, user[MLFLOW_USERNAME], user[MLFLOW_PASSWORD]))


def rotate_passwords(layout: ServicesLayout, tracking: str, admin_env: Mapping[str, str]) -> None:
    """A new MLflow password for every user with a file here, set by the admin and written to the file."""
    for path in user_files(layout):
        user, password = read_env_file(path), new_secret()
        mlflow_auth.set_password(tracking, admin_env, user[MLFLOW_USERNAME], password)
        write_env_file(path, user_env(user, user[MLFLOW_USERNAME], password))


def _admin(layout: ServicesLayout) -> tuple[str, dict[str, str]]:
    env = read_env_file(layout.env_file)
    credentials = Credentials.from_env(env)
    if credentials is None or not credentials.mlflow_admin:
        raise ConfigError(f"{layout.env_file}: no administrator's credentials (start the services first)")
    return servers.mlflow_url(layout.config()), env


def add(layout: ServicesLayout, name: str) -> Path:
    """Create the MLflow user `name` with a new password; the path of the user's env file."""
    if not NAME.fullmatch(name) or name == ADMIN:
        raise ConfigError(f"user {name!r}: expected a name of letters, digits, '_', '.', '-' (not {ADMIN})")
    target = layout.user_env_file(name)
    if target.exists():
        raise ConfigError(f"user {name}: already exists ({target})")
    tracking, env = _admin(layout)
    password = new_secret()
    mlflow_auth.create_user(tracking, env, name, password)
    write_env_file(target, user_env(env, name, password))
    return target


def grant(layout: ServicesLayout, name: str, model: str, permission: str) -> None:
    tracking, env = _admin(layout)
    mlflow_auth.grant(tracking, env, name, model, permission.upper())
