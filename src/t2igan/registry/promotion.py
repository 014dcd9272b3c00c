"""The promotion policy: who becomes @champion when a new version is registered.

Each new version becomes @challenger. It becomes @champion when there is none yet, or when it beats the
champion re-scored on the same data (t2igan.registry.rescore) by more than the noise: the lower bound of
the gain's interval in the primary distance (`register.primary_metric`: FID, or an fd_<name> of
`evaluate.feature_networks`) must exceed `register.fid_margin`, and neither alignment nor per-caption
diversity may be worse by more than `register.alignment_tolerance` / `register.diversity_tolerance` beyond
its interval.
Where the champion cannot be re-scored (another text encoder), the stored figures (the metrics of each
version's logged model, t2igan.registry.aliases) are compared as before, and the reason says so; FIDs are then
compared only under the same sample count (fid_1k vs fid_1k): FID is biased by it. Experiments (`dvc exp run`,
or `register.promotion: challenger`) never move @champion: the decision the gate would have made is recorded.
With `register.human_gate` on, a version that wins waits as @challenger for people's votes instead
(t2igan.registry.human_gate moves it).
Which way each figure is better comes from the metric registry. The decision, its reason and the comparison
are recorded on the version; a new champion also records which version it replaced (t2igan.registry.aliases).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from t2igan.config import RegisterParams
from t2igan.metrics.figures import ALIGNMENT, DIVERSITY, lower_is_better, summary
from t2igan.metrics.noise import Interval
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import (
    PREVIOUS,
    PREVIOUS_METRICS,
    current_champion,
    move_champion,
    now,
    version_metrics,
)
from t2igan.registry.promotion_lock import promotion_lock
from t2igan.registry.rescore import Comparison


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    awaiting_votes: bool = (
        False  # passed the gate; people decide (register.human_gate, t2igan.registry.human_gate)
    )


Rescorer = Callable[[str], Comparison | None]  # champion version -> the two measured together, or None
COMPARISON_TAG = "promotion.comparison"
DECISION_TAG, AGAINST_TAG = "promotion.decision", "promotion.against"
PROMOTED, KEPT, AWAITING_VOTES = "promoted", "kept", "awaiting_votes"


def experiment_name() -> str | None:
    """The `dvc exp run` this runs in (DVC sets DVC_EXP_NAME for its stages), if any."""
    return os.environ.get("DVC_EXP_NAME") or None


def gain(name: str, ours: float, theirs: float) -> float:
    """How much better `ours` is than `theirs` on figure `name` (negative: worse), in its own direction."""
    return theirs - ours if lower_is_better(name) else ours - theirs


def decide(challenger: dict[str, Any], champion: dict[str, Any] | None, policy: RegisterParams) -> Decision:
    if champion is None:
        return Decision(True, "no champion yet")
    name = challenger["fid_name"] if policy.primary_metric == "fid" else policy.primary_metric
    if name not in challenger:
        return Decision(False, f"the challenger has no {name} (register.primary_metric); not comparable")
    if name not in champion:
        return Decision(False, f"champion has no {name} (measured {champion.get('fid_name')}); not comparable")
    new_fid, old_fid = float(challenger[name]), float(champion[name])
    if not gain(name, new_fid, old_fid) > policy.fid_margin:
        return Decision(
            False,
            f"{name} {new_fid:.3f} does not beat the champion's {old_fid:.3f} "
            f"by the margin {policy.fid_margin:g}",
        )
    held = [f"{name} {new_fid:.3f} < {old_fid:.3f} - {policy.fid_margin:g}"]
    for figure, tolerance in ((ALIGNMENT, policy.alignment_tolerance), (DIVERSITY, policy.diversity_tolerance)):
        if figure not in challenger or figure not in champion or tolerance is None:
            continue
        ours, theirs = float(challenger[figure]), float(champion[figure])
        if figure == DIVERSITY:  # variety beyond the data's is noise, not diversity: no credit above 1
            ours, theirs = min(ours, 1.0), min(theirs, 1.0)
        if gain(figure, ours, theirs) < -tolerance:
            return Decision(
                False,
                f"{figure} {ours:.3f} is worse than the champion's {theirs:.3f} (tolerance {tolerance:g})",
            )
        held.append(f"{figure} {ours:.3f} >= {theirs:.3f} - {tolerance:g}")
    return Decision(True, " and ".join(held))


def decide_rescored(comparison: Comparison, policy: RegisterParams) -> Decision:
    """The gate on fresh, paired figures: better than the champion by more than the noise."""
    name, fid, alignment = comparison.fid_name, comparison.fid, comparison.alignment
    ours, theirs = comparison.challenger[name], comparison.champion[name]
    measured = f"{name} {ours:.3f} vs the champion's {theirs:.3f} re-scored on this data, gain {fid}"
    if not fid.low > policy.fid_margin:
        return Decision(False, f"{measured}: not above the margin {policy.fid_margin:g} beyond the noise")
    guarded: list[tuple[str, Interval | None, float | None]] = [
        (ALIGNMENT, alignment, policy.alignment_tolerance),
        (DIVERSITY, comparison.diversity, policy.diversity_tolerance),
    ]
    held = ""
    for figure, interval, tolerance in guarded:
        if interval is None or tolerance is None:
            continue
        if interval.high < -tolerance:
            return Decision(
                False,
                f"{measured}, but {figure} gain {interval}: worse by more than the tolerance "
                f"{tolerance:g} beyond the noise",
            )
        held += f"; {figure} gain {interval}"
    return Decision(True, f"{measured} > {policy.fid_margin:g}{held}")


def _gate(
    client: Any,
    champion: Any | None,
    version: str,
    metrics: dict[str, Any],
    policy: RegisterParams,
    rescore: Rescorer | None,
) -> tuple[Decision, Comparison | None]:
    if champion is None:
        return Decision(True, "no champion yet"), None
    if str(champion.version) == str(version):
        return Decision(False, f"identical weights to @champion (version {version})"), None
    comparison = rescore(str(champion.version)) if rescore is not None else None
    if comparison is not None:
        return decide_rescored(comparison, policy), comparison
    stored = decide(summary(metrics), version_metrics(client, champion), policy)
    return replace(stored, reason=f"stored figures (champion not re-scored): {stored.reason}"), None


def _challenger_only(decision: Decision, policy: RegisterParams) -> Decision:
    """Experiments register challengers: what the gate decided is kept as the reason, nothing moves."""
    experiment = experiment_name()
    if experiment is None and policy.promotion == "gate":
        return decision
    why = f"experiment {experiment} (dvc exp run)" if experiment else "register.promotion: challenger"
    verdict = "would have promoted" if decision.promote else "kept it"
    return Decision(False, f"{why}: registered as @challenger only; the gate {verdict}: {decision.reason}")


def _held_for_votes(decision: Decision, champion: Any | None, policy: RegisterParams) -> Decision:
    """With the human gate on, a winner over an existing champion waits as @challenger for people's votes."""
    gate = policy.human_gate
    if not (decision.promote and champion is not None and gate.enabled):
        return decision
    return Decision(
        False,
        f"passed the automatic gate; waiting for people's votes against version {champion.version} "
        f"(register.human_gate: {gate.min_votes} comparisons, win-rate lower bound > {gate.threshold:g}): "
        f"{decision.reason}",
        awaiting_votes=True,
    )


def _record(
    client: Any,
    name: str,
    version: str,
    decision: Decision,
    comparison: Comparison | None,
    champion: Any | None,
) -> None:
    """The decision on the version: tags, the comparison it was made on, and its description."""
    state = PROMOTED if decision.promote else AWAITING_VOTES if decision.awaiting_votes else KEPT
    client.set_model_version_tag(name, version, DECISION_TAG, state)
    client.set_model_version_tag(name, version, AGAINST_TAG, str(champion.version) if champion else "")
    client.set_model_version_tag(name, version, "promotion.reason", decision.reason)
    client.set_model_version_tag(name, version, "promotion.at", now())
    if comparison is not None:
        client.set_model_version_tag(name, version, COMPARISON_TAG, json.dumps(comparison.as_dict()))
    client.update_model_version(name, version, description=decision.reason)


def promote_if_better(
    client: Any,
    paths: ProjectPaths,
    name: str,
    version: str,
    metrics: dict[str, Any],
    policy: RegisterParams,
    rescore: Rescorer | None = None,
) -> tuple[Decision, str | None, Comparison | None]:
    """Apply the policy to a freshly registered version; the decision, the champion after it, and the
    comparison it was made on (None: first version, identical weights, or stored figures)."""
    with promotion_lock(paths, name):
        champion = current_champion(client, name)
        decision, comparison = _gate(client, champion, version, metrics, policy, rescore)
        decision = _held_for_votes(_challenger_only(decision, policy), champion, policy)
        if champion is not None and str(champion.version) == str(version):
            return decision, str(champion.version), None  # the champion's own record stays as it was
        _record(client, name, version, decision, comparison, champion)
        if decision.promote:
            move_champion(client, name, version, decision.reason, champion)
            return decision, version, comparison
        return decision, str(champion.version) if champion else None, comparison


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
    figures = version_metrics(client, client.get_model_version(name, champion))
    return {"version": champion, "metrics": figures or {}}
