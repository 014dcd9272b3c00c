"""The promotion policy: who becomes @champion.

Each new version becomes @challenger. It becomes @champion when there is none yet, or when its FID beats the
champion's by `register.fid_margin` and its alignment is not worse by more than
`register.alignment_tolerance`. FIDs are compared only under the same sample count (fid_1k vs fid_1k): FID is
biased by it. The decision and its reason are recorded on the version; the new champion also records which
version it replaced, which is what `t2igan rollback` follows.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from t2igan.config import RegisterParams

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
METRICS_TAG = "metrics"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(challenger: dict[str, Any], champion: dict[str, Any] | None, policy: RegisterParams) -> Decision:
    if champion is None:
        return Decision(True, "no champion yet")
    name = challenger["fid_name"]
    if name not in champion:
        return Decision(False, f"champion has no {name} (measured {champion.get('fid_name')}); not comparable")
    new_fid, old_fid = float(challenger[name]), float(champion[name])
    if not new_fid < old_fid - policy.fid_margin:
        return Decision(
            False,
            f"{name} {new_fid:.3f} does not beat the champion's {old_fid:.3f} "
            f"by the margin {policy.fid_margin:g}",
        )
    if "alignment" in challenger and "alignment" in champion:
        new_al, old_al = float(challenger["alignment"]), float(champion["alignment"])
        if new_al < old_al - policy.alignment_tolerance:
            return Decision(
                False,
                f"alignment {new_al:.3f} is worse than the champion's {old_al:.3f} "
                f"(tolerance {policy.alignment_tolerance:g})",
            )
        return Decision(
            True,
            f"{name} {new_fid:.3f} < {old_fid:.3f} - {policy.fid_margin:g} and alignment "
            f"{new_al:.3f} >= {old_al:.3f} - {policy.alignment_tolerance:g}",
        )
    return Decision(True, f"{name} {new_fid:.3f} < {old_fid:.3f} - {policy.fid_margin:g}")


def summary_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures promotion compares, as stored on each version."""
    name = metrics["fid_name"]
    out = {"fid_name": name, name: metrics[name]}
    kid = metrics.get("kid_name")
    if kid and kid in metrics:
        out.update({"kid_name": kid, kid: metrics[kid], f"{kid}_std": metrics[f"{kid}_std"]})
    for key in ("alignment", "r_precision"):
        if key in metrics:
            out[key] = metrics[key]
    return out


def version_metrics(version: Any) -> dict[str, Any] | None:
    raw = (version.tags or {}).get(METRICS_TAG)
    return json.loads(raw) if raw else None


@contextlib.contextmanager
def promotion_lock(lock_dir: Path | None) -> Iterator[None]:
    """Serialise read-decide-move on one machine, so two pipelines finishing together cannot interleave."""
    if lock_dir is None:
        yield
        return
    from filelock import FileLock

    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / ".promotion.lock"), timeout=300):
        yield


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def current_champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def move_champion(client: Any, name: str, version: str, reason: str, previous: Any | None) -> None:
    """Point @champion at `version`, recording when, why, and what it replaced."""
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "champion.since", now())
    client.set_model_version_tag(name, version, "champion.reason", reason)
    client.set_model_version_tag(name, version, "champion.previous", str(previous.version) if previous else "")
    previous_metrics = version_metrics(previous) if previous else None
    client.set_model_version_tag(name, version, "champion.previous_metrics", json.dumps(previous_metrics or {}))
    log.info("%s version %s is now @champion: %s", name, version, reason)


def promote_if_better(
    client: Any,
    name: str,
    version: str,
    metrics: dict[str, Any],
    policy: RegisterParams,
    lock_dir: Path | None,
) -> tuple[Decision, str | None]:
    """Apply the policy to a freshly registered version; return the decision and the champion after it."""
    with promotion_lock(lock_dir):
        champion = current_champion(client, name)
        decision = decide(summary_metrics(metrics), version_metrics(champion) if champion else None, policy)
        client.set_model_version_tag(
            name, version, "promotion.decision", "promoted" if decision.promote else "kept"
        )
        client.set_model_version_tag(name, version, "promotion.reason", decision.reason)
        client.set_model_version_tag(name, version, "promotion.at", now())
        if decision.promote:
            move_champion(client, name, version, decision.reason, champion)
            return decision, version
        return decision, str(champion.version) if champion else None
