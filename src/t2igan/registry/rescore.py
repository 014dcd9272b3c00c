"""Re-score, then decide: the champion evaluated on the challenger's data, rows and seeds.

The figures stored on the champion were measured when it was evaluated, possibly on other data; after new data
lands (the scheduled case) they are not comparable with the challenger's. So the champion's generator is
fetched from the registry and run through the same evaluation as the challenger: the same test rows, seeds,
real-image features and judge. Generated features are cached by weights, so this costs one generation pass
(and one Inception pass when the data changed), not a retraining. The two feature sets are paired, which
gives the gains' noise intervals (t2igan.metrics.noise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from t2igan.config import Params
from t2igan.errors import StageInputError
from t2igan.metrics.alignment import attribute_reading
from t2igan.metrics.context import EvalContext
from t2igan.metrics.distances import distances
from t2igan.metrics.diversity import diversity_reading
from t2igan.metrics.feature_networks import feature_pair
from t2igan.metrics.fid import frechet_distance
from t2igan.metrics.figures import ALIGNMENT, DIVERSITY, FD_PREFIX
from t2igan.metrics.noise import Interval, fid_gain, mean_gain
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    """Challenger and champion measured together; gains are positive when the challenger is better."""

    champion_version: str
    fid_name: str  # the primary distance's figure: fid_<n>, or fd_<name> (register.primary_metric)
    challenger: dict[str, float]  # the primary distance and, where measured, alignment
    champion: dict[str, float]
    fid: Interval
    alignment: Interval | None  # None on data without attributes (R-precision is not paired per image)
    data_sha256: str  # the clean manifest both were measured on
    diversity: Interval | None = None  # per-caption diversity, paired caption by caption (None: switched off)

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion_version": self.champion_version,
            "fid_name": self.fid_name,
            "challenger": self.challenger,
            "champion": self.champion,
            "fid_gain": self.fid.as_dict(),
            "alignment_gain": self.alignment.as_dict() if self.alignment else None,
            "diversity_gain": self.diversity.as_dict() if self.diversity else None,
            "data_sha256": self.data_sha256,
        }


def generator_dir(name: str, version: str, into: Path) -> Path:
    """The exported generator of a registered version, downloaded from the registry."""
    import mlflow
    from mlflow.models import Model

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(into)))
    flavor = Model.load(str(local)).flavors["python_function"]
    return local / flavor["artifacts"]["generator"]["path"]


def compare(params: Params, paths: ProjectPaths, champion_version: str, champion_dir: Path) -> Comparison:
    """Both generators through the same evaluation; StageInputError when the champion cannot be run on it."""
    policy, seed = params.register_, params.evaluate.seed
    ours = EvalContext(params, paths)
    theirs = EvalContext(params, paths, model_dir=champion_dir)
    name, real, mine_fake, other_fake = _primary_features(policy.primary_metric, ours, theirs)
    challenger = {name: frechet_distance(real, mine_fake)}
    champion = {name: frechet_distance(real, other_fake)}
    fid = fid_gain(real, mine_fake, other_fake, policy.confidence, policy.resamples, seed)
    alignment = None
    if ours.vocab:
        ours_read, theirs_read = attribute_reading(ours), attribute_reading(theirs)
        mine = ours_read.heldout_scores if ours_read else None
        other = theirs_read.heldout_scores if theirs_read else None
        if mine is not None and other is not None:
            challenger[ALIGNMENT], champion[ALIGNMENT] = float(mine.mean()), float(other.mean())
            alignment = mean_gain(mine, other, policy.confidence, policy.resamples, seed)
    diversity = None
    ours_spread, theirs_spread = diversity_reading(ours), diversity_reading(theirs)
    if ours_spread is not None and theirs_spread is not None:
        # per caption, no credit above the real images' spread: more than the data's variety is noise
        mine, other = np.minimum(ours_spread.inception, 1.0), np.minimum(theirs_spread.inception, 1.0)
        challenger[DIVERSITY], champion[DIVERSITY] = float(mine.mean()), float(other.mean())
        diversity = mean_gain(mine, other, policy.confidence, policy.resamples, seed)
    return Comparison(
        champion_version, name, challenger, champion, fid, alignment, ours.manifest_sha, diversity
    )


def _primary_features(
    primary: str, ours: EvalContext, theirs: EvalContext
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(figure name, real features, challenger's, champion's) in the space the gate reads first: Inception
    (fid_<n>) or a network of evaluate.feature_networks (fd_<name>). Both read the same real images."""
    if primary == "fid":
        a, b = distances(ours), distances(theirs)
        return a.fid_name, a.real, a.fake, b.fake
    network = primary.removeprefix(FD_PREFIX)
    pa, pb = feature_pair(ours, network), feature_pair(theirs, network)
    return pa.name, pa.real, pa.fake, pb.fake


def rescore_champion(
    params: Params, paths: ProjectPaths, champion_version: str, scratch: Path
) -> Comparison | None:
    """The comparison, or None (logged) when the champion cannot be re-scored here (another text encoder,
    its files unreachable): the gate then falls back to the stored figures and says so."""
    import mlflow

    try:
        directory = generator_dir(params.register_.model_name, champion_version, scratch)
        return compare(params, paths, champion_version, directory)
    except (StageInputError, mlflow.exceptions.MlflowException, OSError, KeyError) as exc:
        log.warning("champion version %s not re-scored on this data: %s", champion_version, exc)
        return None
