"""The human gate (`register.human_gate`): a challenger that beat the champion on the numbers becomes
@champion only once people prefer it; and every reading of people's votes, recorded on the registry.

Register holds such a challenger (`promotion.decision: awaiting_votes`, `promotion.against: <champion>`);
the studio keeps showing it blind beside the champion. `t2igan promote --from-feedback` (and the scheduled
flow) then decides: at least `min_votes` decided comparisons with that champion, and the lower bound of the
challenger's win rate above `threshold`. The counts go on the version and, when it is promoted, into the
alias's audit record (`champion.reason`, `champion.feedback`), under the promotion lock like every move.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from t2igan.config import HumanGateParams, Params
from t2igan.feedback.stats import WinRate, win_rate
from t2igan.feedback.summary import summarise
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import CHALLENGER, current_champion, move_champion, now
from t2igan.registry.promotion import AGAINST_TAG, AWAITING_VOTES, DECISION_TAG, PROMOTED
from t2igan.registry.promotion_lock import promotion_lock
from t2igan.tracking import configure

log = logging.getLogger(__name__)

FEEDBACK_TAG = "feedback"  # the last human-gate reading on a version, as JSON
CHAMPION_FEEDBACK_TAG = "champion.feedback"  # the reading that made it champion


@dataclass(frozen=True)
class HumanDecision:
    promote: bool
    reason: str


@dataclass(frozen=True)
class FeedbackOutcome:
    """What `promote --from-feedback` did: the versions, the reading (None: nothing to decide) and why."""

    model_name: str
    challenger: str | None
    champion: str | None
    promoted: bool
    reason: str
    win_rate: WinRate | None = None


def decide_human(rate: WinRate, gate: HumanGateParams) -> HumanDecision:
    if rate.decided < gate.min_votes:
        return HumanDecision(
            False,
            f"waiting for votes: {rate.decided} of {gate.min_votes} decided comparisons; {rate.describe()}",
        )
    if rate.low > gate.threshold:
        return HumanDecision(True, f"people prefer it: {rate.describe()}; lower bound > {gate.threshold:g}")
    return HumanDecision(
        False, f"people do not prefer it enough: {rate.describe()}; lower bound <= {gate.threshold:g}"
    )


def _reading(rate: WinRate, decision: HumanDecision) -> str:
    return json.dumps({**rate.as_dict(), "decision": decision.reason, "at": now()}, sort_keys=True)


def log_win_rate(client: Any, run_id: str, rate: WinRate) -> None:
    """The reading as metrics of the version's training run: human win rate, its interval, the counts."""
    if rate.rate is None:
        return
    for key, value in {
        "human_win_rate": rate.rate,
        "human_win_rate_low": rate.low,
        "human_win_rate_high": rate.high,
        "human_votes": rate.decided,
        "human_both_bad": rate.both_bad,
    }.items():
        client.log_metric(run_id, key, float(value))


def promote_from_feedback(
    params: Params, paths: ProjectPaths, sessions: sessionmaker[Session]
) -> FeedbackOutcome:
    """Apply the human gate to the waiting @challenger; every reading is recorded on it."""
    import mlflow

    configure(paths)
    client = mlflow.MlflowClient()
    name, gate = params.register_.model_name, params.register_.human_gate
    with promotion_lock(paths, name):
        champion = current_champion(client, name)
        try:
            challenger = client.get_model_version_by_alias(name, CHALLENGER)
        except mlflow.exceptions.MlflowException:
            challenger = None
        champion_version = str(champion.version) if champion is not None else None
        if challenger is None or champion_version is None or str(challenger.version) == champion_version:
            return FeedbackOutcome(name, None, champion_version, False, "no challenger is waiting for votes")
        version, tags = str(challenger.version), challenger.tags or {}
        if tags.get(DECISION_TAG) != AWAITING_VOTES:
            return FeedbackOutcome(
                name,
                version,
                champion_version,
                False,
                f"version {version} is not waiting for votes (decision: {tags.get(DECISION_TAG, 'none')}); "
                "only challengers that passed the automatic gate with register.human_gate on are",
            )
        if tags.get(AGAINST_TAG) != champion_version:
            return FeedbackOutcome(
                name,
                version,
                champion_version,
                False,
                f"version {version} passed the gate against version {tags.get(AGAINST_TAG)}, but @champion is "
                f"now version {champion_version}: register it again to compare it with this one",
            )
        with sessions() as session:
            rate = win_rate(session, name, version, champion_version, gate.confidence)
        decision = decide_human(rate, gate)
        client.set_model_version_tag(name, version, FEEDBACK_TAG, _reading(rate, decision))
        log_win_rate(client, str(challenger.run_id), rate)
        if decision.promote:
            reason = f"human gate: {decision.reason}"
            move_champion(client, name, version, reason, champion)
            client.set_model_version_tag(name, version, DECISION_TAG, PROMOTED)
            client.set_model_version_tag(name, version, CHAMPION_FEEDBACK_TAG, json.dumps(rate.as_dict()))
        log.info("%s version %s: %s", name, version, decision.reason)
        return FeedbackOutcome(name, version, champion_version, decision.promote, decision.reason, rate)


def feedback_report(params: Params, paths: ProjectPaths, sessions: sessionmaker[Session]) -> dict[str, Any]:
    """All feedback so far (`t2igan feedback report`); each version compared with the current @champion gets
    the reading as MLflow metrics of its training run (`human_win_rate`, its bounds, `human_votes`), beside
    FID and alignment."""
    import mlflow

    configure(paths)
    client = mlflow.MlflowClient()
    name = params.register_.model_name
    with sessions() as session:
        report = summarise(session, params)
        champion = current_champion(client, name)
        champion_version = str(champion.version) if champion is not None else None
        for pair in report["pairs"]:
            if pair["other"] != champion_version:
                continue
            try:
                run_id = str(client.get_model_version(name, pair["version"]).run_id)
            except mlflow.exceptions.MlflowException:
                log.warning("votes name %s version %s, which the registry does not hold", name, pair["version"])
                continue
            log_win_rate(
                client, run_id, win_rate(session, name, pair["version"], pair["other"], pair["confidence"])
            )
    return report
