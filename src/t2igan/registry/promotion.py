"""The promotion policy: who becomes @champion when a new version is registered.

Each new version becomes @challenger. It becomes @champion when there is none yet, or when its FID beats the
champion's by `register.fid_margin` and its alignment is not worse by more than
`register.alignment_tolerance`. FIDs are compared only under the same sample count (fid_1k vs fid_1k): FID is
biased by it. Which way each figure is better comes from the metric registry. The decision and its reason are
recorded on the version; a new champion also records which version it replaced (t2igan.registry.aliases).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from t2igan.config import RegisterParams
from t2igan.metrics.registry import ALIGNMENT, lower_is_better, summary
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import (
    PREVIOUS,
    PREVIOUS_METRICS,
    current_champion,
    move_champion,
    now,
    promotion_lock,
    version_metrics,
)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def gain(name: str, ours: float, theirs: float) -> float:
    """How much better `ours` is than `theirs` on figure `name` (negative: worse), in its own direction."""
    return theirs - ours if lower_is_better(name) else ours - theirs


def decide(challenger: dict[str, Any], champion: dict[str, Any] | None, policy: RegisterParams) -> Decision:
    if champion is None:
        return Decision(True, "no champion yet")
    name = challenger["fid_name"]
    if name not in champion:
        return Decision(False, f"champion has no {name} (measured {champion.get('fid_name')}); not comparable")
    new_fid, old_fid = float(challenger[name]), float(champion[name])
    if not gain(name, new_fid, old_fid) > policy.fid_margin:
        return Decision(
            False,
            f"{name} {new_fid:.3f} does not beat the champion's {old_fid:.3f} "
            f"by the margin {policy.fid_margin:g}",
        )
    if ALIGNMENT not in challenger or ALIGNMENT not in champion:
        return Decision(True, f"{name} {new_fid:.3f} < {old_fid:.3f} - {policy.fid_margin:g}")
    new_al, old_al = float(challenger[ALIGNMENT]), float(champion[ALIGNMENT])
    if gain(ALIGNMENT, new_al, old_al) < -policy.alignment_tolerance:
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


def promote_if_better(
    client: Any, paths: ProjectPaths, name: str, version: str, metrics: dict[str, Any], policy: RegisterParams
) -> tuple[Decision, str | None]:
    """Apply the policy to a freshly registered version; return the decision and the champion after it."""
    with promotion_lock(paths):
        champion = current_champion(client, name)
        decision = decide(summary(metrics), version_metrics(champion) if champion else None, policy)
        client.set_model_version_tag(
            name, version, "promotion.decision", "promoted" if decision.promote else "kept"
        )
        client.set_model_version_tag(name, version, "promotion.reason", decision.reason)
        client.set_model_version_tag(name, version, "promotion.at", now())
        if decision.promote:
            move_champion(client, name, version, decision.reason, champion)
            return decision, version
        return decision, str(champion.version) if champion else None


def compared_with(
    client: Any, name: str, version: str, promoted: bool, champion: str | None
) -> dict[str, Any] | None:
    """The champion the decision was made against (version and figures), read back from the registry.

    A promoted version records the champion it replaced; otherwise the champion is still in place and carries
    its own figures. None when there was no champion yet.
    """
    if promoted:
        tags = client.get_model_version(name, version).tags or {}
        previous = tags.get(PREVIOUS)
        if not previous:
            return None
        return {"version": previous, "metrics": json.loads(tags.get(PREVIOUS_METRICS) or "{}")}
    if champion is None:
        return None
    return {"version": champion, "metrics": version_metrics(client.get_model_version(name, champion)) or {}}
