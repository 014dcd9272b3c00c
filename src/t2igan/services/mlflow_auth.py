"""The MLflow server's basic-auth app: its configuration, and the users and permissions `services` manages.

Every request to the tracking server and the registry carries a user's name and password. Users read
everything (`default_permission = READ`); a registered model's creator manages it, and moving an alias needs
EDIT on the model, which `t2igan services user grant` gives. The app keeps its users in the team's
PostgreSQL (database `mlflow_auth`, with the runs' own), so one backup holds both. The configuration file has
no secret in it: the database password comes from PGPASSWORD, and the administrator's password (used only to
create the administrator at the very first start) from MLFLOW_AUTH_ADMIN_PASSWORD.
"""

from __future__ import annotations

import configparser
import io
import os
from collections.abc import Mapping

import httpx

from t2igan.errors import ConfigError, TransientError
from t2igan.io import write_text
from t2igan.services import postgres
from t2igan.services.credentials import ADMIN, MLFLOW_PASSWORD, MLFLOW_USERNAME
from t2igan.services.layout import ServicesConfig, ServicesLayout

DATABASE = "mlflow_auth"
AUTH_CACHE_SECONDS = 60
PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")
REGISTERED_MODEL = "registered_model"
# the auth app's REST API (mlflow.server.auth.routes)
CREATE_USER = "/api/2.0/mlflow/users/create"
UPDATE_PASSWORD = "/api/2.0/mlflow/users/update-password"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
REVOKE = "/api/3.0/mlflow/users/permissions/revoke"


def write_config(layout: ServicesLayout, config: ServicesConfig) -> None:
    parser = configparser.ConfigParser()
    parser["mlflow"] = {
        "default_permission": "READ",
        "database_uri": postgres.url(config.host, config.ports.postgres, DATABASE),
        "admin_username": ADMIN,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # A password check is a PBKDF2 hash (600k rounds, about 0.3 s of a core here) on every request: a
        # pipeline's hundreds of requests spent minutes on it. Each worker remembers a checked (user, password)
        # for a minute; passwords change only through `services rotate`, which restarts the server.
        "auth_cache_ttl_seconds": str(AUTH_CACHE_SECONDS),
    }
    text = io.StringIO()
    parser.write(text)
    write_text(layout.mlflow_auth_config, text.getvalue())


def server_env(layout: ServicesLayout, admin_password: str) -> dict[str, str]:
    """The auth app's environment: its configuration, and the administrator's first password."""
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(layout.mlflow_auth_config),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        # signs the sign-up form's CSRF token; both workers must share it, no client needs it
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(32).hex(),
    }


def _request(
    tracking_uri: str, as_env: Mapping[str, str], method: str, path: str, body: dict[str, str], what: str
) -> None:
    """One call of the auth app's REST API as the env's user; one line when the server refuses it."""
    try:
        response = httpx.request(
            method,
            f"{tracking_uri}{path}",
            json=body,
            auth=(as_env[MLFLOW_USERNAME], as_env[MLFLOW_PASSWORD]),
            timeout=30,
        )
    except httpx.HTTPError as error:
        raise TransientError(f"{what}: cannot reach the MLflow server at {tracking_uri} ({error})") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("message", response.text)
        except ValueError:
            detail = response.text
        raise ConfigError(f"{what}: the MLflow server refused it ({response.status_code}: {detail[:200]})")


def create_user(tracking_uri: str, admin_env: Mapping[str, str], name: str, password: str) -> None:
    body = {"username": name, "password": password}
    _request(tracking_uri, admin_env, "POST", CREATE_USER, body, f"creating the MLflow user {name}")


def set_password(tracking_uri: str, as_env: Mapping[str, str], name: str, password: str) -> None:
    """A new password for `name`; changing one's own needs the current one (the API's self-service rule)."""
    body = {"username": name, "password": password}
    if as_env[MLFLOW_USERNAME] == name:
        body["current_password"] = as_env[MLFLOW_PASSWORD]
    _request(tracking_uri, as_env, "PATCH", UPDATE_PASSWORD, body, f"changing {name}'s MLflow password")


def grant(tracking_uri: str, admin_env: Mapping[str, str], name: str, model: str, permission: str) -> None:
    """Give `name` `permission` on the registered model `model` (replacing what it had)."""
    if permission not in PERMISSIONS:
        raise ConfigError(f"permission {permission!r}: expected one of {', '.join(PERMISSIONS)}")
    what = f"granting {name} {permission} on {model}"
    target = {"username": name, "resource_type": REGISTERED_MODEL, "resource_id": model}
    try:
        _request(tracking_uri, admin_env, "POST", GRANT, {**target, "permission": permission}, what)
    except ConfigError as error:
        if "already exists" not in str(error):
            raise
        _request(tracking_uri, admin_env, "POST", REVOKE, target, what)  # the API grants once: replace it
        _request(tracking_uri, admin_env, "POST", GRANT, {**target, "permission": permission}, what)
