"""The registry's aliases: who is @champion, who is @challenger, and the record every move leaves.

Aliases, not stages: a new version is @challenger; @champion moves by the promotion policy, by hand
(`t2igan promote`) or back (`t2igan rollback`). Every move of @champion is recorded on the version it now
points at: when (`champion.since`), why (`champion.reason`) and, unless it is a rollback, which version it
replaced and that version's figures (`champion.previous`, `champion.previous_metrics`), the chain rollback
follows. Moves are serialised by `promotion_lock` (a file beside a local store, a PostgreSQL advisory lock
for a team's server), so two pipelines finishing together cannot interleave.

A version's figures (what promotion compares, what the studio shows) are the metrics of the logged model it
was registered from (t2igan.registry.publish), so the MLflow UI shows and sorts them and
`mlflow.search_logged_models(filter_string="metrics.fid_1k < 50")` finds them. Versions registered before
that kept them as one JSON tag (`metrics`); `version_metrics` still reads it for those.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from t2igan.config import Params
from t2igan.errors import T2iganError
from t2igan.metrics.figures import summary
from t2igan.metrics.report import ChampionFigures
from t2igan.paths import ProjectPaths
from t2igan.registry.promotion_lock import promotion_lock
from t2igan.tracking import configure

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
# Versions registered by older code: the summary figures (t2igan.metrics.figures.summary) as one JSON tag.
# Read only as the fallback of `version_metrics`; nothing writes it any more.
METRICS_TAG = "metrics"
# On a logged model: its summary figures are its metrics, measured on this dataset (the name MLflow knows the
# training run's test split by; empty when the run logged none). Also the mark of a version registered with
# its figures there.
FIGURES_TAG = "t2igan.figures"
MODELS_URI = "models:/"
SINCE, REASON = "champion.since", "champion.reason"
PREVIOUS, PREVIOUS_METRICS = "champion.previous", "champion.previous_metrics"
ROLLED_BACK_AT = "champion.rolled_back_at"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def logged_model_id(version: Any) -> str | None:
    """The logged model a version was registered from: its `model_id`, or where the store does not keep that
    (MLflow's own SQL registry), its source `models:/<model_id>`. None for a version made from a path."""
    if getattr(version, "model_id", None):
        return str(version.model_id)
    source = str(getattr(version, "source", None) or "")
    model_id = source.removeprefix(MODELS_URI)
    if not source.startswith(MODELS_URI) or not model_id or "/" in model_id or "@" in model_id:
        return None
    return model_id


def logged_figures(model: Any) -> dict[str, Any] | None:
    """A logged model's summary figures, or None when it was not registered with them (no FIGURES_TAG).

    The numbers are its metrics; the entries naming them (`fid_name`) its tags. MLflow links every metric
    its run logs later at the model's step to the model too (a re-run evaluate), so only the metrics on the
    figures' dataset count, and the last value of each.
    """
    tags = dict(model.tags or {})
    if FIGURES_TAG not in tags:
        return None
    dataset = tags[FIGURES_TAG]
    numbers: dict[str, Any] = {}
    for metric in sorted(model.metrics or [], key=lambda m: (m.timestamp, m.step)):
        if not dataset or metric.dataset_name == dataset:
            numbers[metric.key] = metric.value
    # summary keeps the figures it stores and the tags that name them, nothing else of MLflow's own
    return summary({**tags, **numbers})


def version_metrics(client: Any, version: Any) -> dict[str, Any] | None:
    """A version's summary figures: its logged model's metrics, or for a version registered by older code
    (or by hand) without them, the JSON tag METRICS_TAG; None when it has neither."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    model_id = logged_model_id(version)
    if model_id is not None:
        try:
            figures = logged_figures(client.get_logged_model(model_id))
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise  # a registry that does not answer is not a version without figures
            figures = None
        if figures is not None:
            return figures
    raw = (version.tags or {}).get(METRICS_TAG)
    return json.loads(raw) if raw else None


def current_champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def move_champion(
    client: Any, name: str, version: str, reason: str, replaced: Any | None, rollback: bool = False
) -> None:
    """Point @champion at `version` and record the move (a rollback keeps the version's own history).

    A version never replaces itself: its `champion.previous` would point at itself, and every rollback after
    that would go nowhere.
    """
    if replaced is not None and str(replaced.version) == str(version):
        raise T2iganError(f"{name} version {version} is already @champion")
    client.set_registered_model_alias(name, CHAMPION, version)
    tags = {SINCE: now(), REASON: reason}
    if not rollback:
        tags[PREVIOUS] = str(replaced.version) if replaced else ""
        tags[PREVIOUS_METRICS] = json.dumps((version_metrics(client, replaced) if replaced else None) or {})
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if rollback and replaced is not None:
        client.set_model_version_tag(name, str(replaced.version), ROLLED_BACK_AT, tags[SINCE])
    log.info("%s version %s is now @champion: %s", name, version, reason)


def _registry(params: Params, paths: ProjectPaths) -> tuple[Any, str]:
    import mlflow

    configure(paths)
    return mlflow.MlflowClient(), params.register_.model_name


def manual_promote(version: str, reason: str, params: Params, paths: ProjectPaths) -> tuple[str, bool]:
    """`t2igan promote`: make a version @champion by hand, recording the reason and what it replaces.

    Returns the model's name and whether @champion moved (promoting the champion changes nothing).
    """
    client, name = _registry(params, paths)
    try:
        client.get_model_version(name, version)
    except Exception:
        raise T2iganError(f"{name} has no version {version}") from None
    with promotion_lock(paths, name):
        champion = current_champion(client, name)
        if champion is not None and str(champion.version) == str(version):
            return name, False
        move_champion(client, name, version, f"manual: {reason}", champion)
    return name, True


def rollback_champion(params: Params, paths: ProjectPaths) -> tuple[str, str]:
    """`t2igan rollback`: @champion back to the version the current one replaced."""
    client, name = _registry(params, paths)
    with promotion_lock(paths, name):
        champion = current_champion(client, name)
        if champion is None:
            raise T2iganError(f"{name} has no @champion to roll back")
        previous = (champion.tags or {}).get(PREVIOUS)
        if not previous:
            raise T2iganError(f"{name} version {champion.version} replaced no earlier champion")
        if previous == str(champion.version):
            raise T2iganError(
                f"{name} version {previous}'s history points at itself; promote a version by hand"
            )
        client.get_model_version(name, previous)  # fails loudly if that version was deleted
        # The restored version keeps its own `champion.previous`, so a second rollback goes one further back.
        move_champion(
            client, name, previous, f"rollback from version {champion.version}", champion, rollback=True
        )
    return name, previous


def champion_figures(params: Params, paths: ProjectPaths) -> ChampionFigures | None:
    """The current champion's evaluation figures, from its training run; None without a champion."""
    import mlflow

    configure(paths)
    client = mlflow.MlflowClient()
    try:
        champion = current_champion(client, params.register_.model_name)
        if champion is None:
            return None
        run = client.get_run(champion.run_id)
    except mlflow.exceptions.MlflowException as exc:
        log.warning("could not read the champion's figures: %s", exc)
        return None
    return ChampionFigures(str(champion.version), champion.run_id, dict(run.data.metrics))
