"""The promotion policy, decided on metrics alone, in each figure's own direction."""

from __future__ import annotations

from t2igan.config import RegisterParams
from t2igan.registry.promotion import decide, gain

POLICY = RegisterParams(fid_margin=1.0, alignment_tolerance=0.01)


def _m(fid: float, alignment: float | None = None, name: str = "fid_1k") -> dict:
    out = {"fid_name": name, name: fid}
    if alignment is not None:
        out["alignment"] = alignment
    return out


def test_first_version_is_promoted() -> None:
    assert decide(_m(50, 0.5), None, POLICY).promote


def test_better_fid_by_the_margin_and_no_worse_alignment_is_promoted() -> None:
    decision = decide(_m(40, 0.6), _m(50, 0.6), POLICY)
    assert decision.promote and "fid_1k 40.000 < 50.000 - 1" in decision.reason


def test_fid_within_the_margin_is_not_enough() -> None:
    decision = decide(_m(49.5, 0.9), _m(50, 0.5), POLICY)
    assert not decision.promote and "does not beat" in decision.reason


def test_worse_alignment_blocks_promotion_even_with_better_fid() -> None:
    decision = decide(_m(10, 0.40), _m(50, 0.50), POLICY)
    assert not decision.promote and "alignment 0.400 is worse" in decision.reason
    assert decide(_m(10, 0.495), _m(50, 0.50), POLICY).promote  # within the tolerance


def test_fids_at_different_sample_counts_are_not_compared() -> None:
    decision = decide(_m(10, 0.9, name="fid_1k"), _m(50, 0.1, name="fid_2k"), POLICY)
    assert not decision.promote and "not comparable" in decision.reason


def test_gain_is_measured_in_each_figure_s_direction() -> None:
    assert gain("fid_1k", 40.0, 50.0) == 10.0  # lower FID is better
    assert gain("alignment", 0.4, 0.5) < 0  # lower alignment is worse
