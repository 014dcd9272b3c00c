"""The registry as the studio shows it: each version, its aliases, figures and win rate, and who was champion
when and why."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from t2igan.feedback.stats import win_rate
from t2igan.metrics.figures import BEYOND_INCEPTION
from t2igan.registry.aliases import PREVIOUS, REASON, SINCE, version_metrics
from t2igan.registry.promotion import AWAITING_VOTES, DECISION_TAG


def _figures(client: Any, version: Any) -> dict[str, Any]:
    metrics = version_metrics(client, version) or {}
    fid_name = metrics.get("fid_name")
    figures = {"fid_name": fid_name, "fid": metrics.get(fid_name) if fid_name else None}
    figures["alignment"] = metrics.get("alignment")
    figures["diversity"] = metrics.get("diversity")
    # fd_<name> and clip_score_<name> of evaluate.feature_networks, by name
    figures["beyond_inception"] = {
        k: v
        for k, v in sorted(metrics.items())
        if k.startswith(BEYOND_INCEPTION) and isinstance(v, (int, float))
    }
    return figures


def registry_view(
    model_name: str, sessions: sessionmaker[Session], confidence: float, min_votes: int
) -> dict[str, Any]:
    import mlflow

    client = mlflow.MlflowClient()
    try:
        aliases = client.get_registered_model(model_name).aliases or {}
    except mlflow.exceptions.MlflowException:
        return {"model": model_name, "versions": [], "history": [], "aliases": {}}
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    champion = next((str(v) for a, v in aliases.items() if a == "champion"), None)
    versions, history = [], []
    with sessions() as session:
        for version in sorted(
            client.search_model_versions(f"name='{model_name}'"), key=lambda v: -int(v.version)
        ):
            tags, number = version.tags or {}, str(version.version)
            rate = (
                win_rate(session, model_name, number, champion, confidence).as_dict()
                if champion and number != champion
                else None
            )
            versions.append(
                {
                    "version": number,
                    "aliases": sorted(by_version.get(number, [])),
                    **_figures(client, version),
                    "decision": tags.get(DECISION_TAG),
                    "reason": tags.get("promotion.reason"),
                    "awaiting_votes": tags.get(DECISION_TAG) == AWAITING_VOTES,
                    "min_votes": min_votes,
                    "win_rate": rate,
                    "feedback": json.loads(tags["feedback"]) if tags.get("feedback") else None,
                }
            )
            if SINCE in tags:
                history.append(
                    {
                        "version": number,
                        "since": tags[SINCE],
                        "reason": tags.get(REASON),
                        "replaced": tags.get(PREVIOUS),
                    }
                )
    history.sort(key=lambda h: h["since"] or "", reverse=True)
    return {
        "model": model_name,
        "aliases": {a: str(v) for a, v in aliases.items()},
        "versions": versions,
        "history": history,
    }
