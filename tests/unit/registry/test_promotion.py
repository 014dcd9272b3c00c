"""The promotion policy, decided on metrics alone, in each figure's own direction."""

from __future__ import annotations

import pytest

from t2igan.config import RegisterParams
from t2igan.registry.promotion import decide, decide_rescored, gain

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


def _comparison(
    fid_gain: tuple[float, float, float],
    alignment_gain: tuple[float, float, float] | None = None,
    diversity_gain: tuple[float, float, float] | None = None,
):
    from t2igan.metrics.noise import Interval
    from t2igan.registry.rescore import Comparison

    point, low, high = fid_gain
    alignment = Interval(*alignment_gain, 0.9) if alignment_gain else None
    diversity = Interval(*diversity_gain, 0.9) if diversity_gain else None
    return Comparison(
        champion_version="1",
        fid_name="fid_1k",
        challenger={"fid_1k": 50.0 - point, "alignment": 0.8},
        champion={"fid_1k": 50.0, "alignment": 0.8},
        fid=Interval(point, low, high, 0.9),
        alignment=alignment,
        data_sha256="ab" * 32,
        diversity=diversity,
    )


def test_a_rescored_gain_must_clear_the_margin_beyond_the_noise() -> None:
    policy = RegisterParams(fid_margin=1.0)
    assert decide_rescored(_comparison((5.0, 2.0, 8.0)), policy).promote
    inside = decide_rescored(_comparison((5.0, 0.5, 9.5)), policy)  # the point clears it, the bound does not
    assert not inside.promote and "not above the margin 1 beyond the noise" in inside.reason
    assert "re-scored on this data" in inside.reason and "[+0.500, +9.500] at 90%" in inside.reason


def test_alignment_blocks_only_when_worse_beyond_the_noise_and_the_tolerance() -> None:
    policy = RegisterParams(alignment_tolerance=0.01)
    assert decide_rescored(_comparison((5.0, 2.0, 8.0), (-0.03, -0.08, 0.02)), policy).promote  # noise
    worse = decide_rescored(_comparison((5.0, 2.0, 8.0), (-0.1, -0.15, -0.05)), policy)
    assert not worse.promote and "alignment gain" in worse.reason


def test_a_drop_in_per_caption_diversity_beyond_the_noise_blocks_even_a_better_fid() -> None:
    # A generator that stops using its noise can buy FID on a small test set: the gate reads diversity too
    policy = RegisterParams(diversity_tolerance=0.05)
    noise = decide_rescored(_comparison((5.0, 2.0, 8.0), diversity_gain=(-0.04, -0.12, 0.03)), policy)
    assert noise.promote and "diversity gain -0.040 [-0.120, +0.030]" in noise.reason
    collapsed = decide_rescored(_comparison((5.0, 2.0, 8.0), diversity_gain=(-0.3, -0.4, -0.2)), policy)
    assert not collapsed.promote and "but diversity gain" in collapsed.reason
    assert "worse by more than the tolerance 0.05 beyond the noise" in collapsed.reason


def test_stored_figures_compare_diversity_within_its_tolerance() -> None:
    policy = RegisterParams(fid_margin=1.0, diversity_tolerance=0.05)
    ours, theirs = {**_m(40, 0.6), "diversity": 0.5}, {**_m(50, 0.6), "diversity": 0.8}
    decision = decide(ours, theirs, policy)
    assert not decision.promote and "diversity 0.500 is worse than the champion's 0.800" in decision.reason
    assert decide({**ours, "diversity": 0.77}, theirs, policy).promote  # within the tolerance
    # more varied than the data is noise, not diversity: a garbled champion's 1.6 counts as 1
    assert decide({**ours, "diversity": 0.97}, {**theirs, "diversity": 1.6}, policy).promote


def test_diversity_is_reported_but_not_gated_unless_a_tolerance_is_set() -> None:
    assert RegisterParams().diversity_tolerance is None
    collapsed = _comparison((5.0, 2.0, 8.0), diversity_gain=(-0.3, -0.4, -0.2))
    assert decide_rescored(collapsed, RegisterParams()).promote
    stored = decide({**_m(40, 0.6), "diversity": 0.1}, {**_m(50, 0.6), "diversity": 0.9}, RegisterParams())
    assert stored.promote


def test_experiments_register_challengers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from t2igan.registry.promotion import Decision, _challenger_only

    win = Decision(True, "fid_1k 40 < 50")
    assert _challenger_only(win, RegisterParams()) == win
    monkeypatch.setenv("DVC_EXP_NAME", "crisp-lark")
    kept = _challenger_only(win, RegisterParams())
    assert not kept.promote and kept.reason.startswith("experiment crisp-lark (dvc exp run)")
    assert kept.reason.endswith("the gate would have promoted: fid_1k 40 < 50")
    monkeypatch.delenv("DVC_EXP_NAME")
    assert not _challenger_only(win, RegisterParams(promotion="challenger")).promote
    refused = _challenger_only(Decision(False, "no"), RegisterParams(promotion="challenger"))
    assert (
        refused.reason == "register.promotion: challenger: registered as @challenger only; the gate kept it: no"
    )
    assert _challenger_only(Decision(False, "no"), RegisterParams()).reason == "no"


def test_with_the_human_gate_on_a_winner_over_a_champion_waits_for_votes() -> None:
    from types import SimpleNamespace

    from t2igan.config import HumanGateParams
    from t2igan.registry.promotion import Decision, _held_for_votes

    gated = RegisterParams(human_gate=HumanGateParams(enabled=True, min_votes=20))
    champion = SimpleNamespace(version="4")
    win, loss = Decision(True, "fid_1k 40 < 50"), Decision(False, "no")
    held = _held_for_votes(win, champion, gated)
    assert not held.promote and held.awaiting_votes
    assert "waiting for people's votes against version 4 (register.human_gate: 20 comparisons" in held.reason
    assert held.reason.endswith(": fid_1k 40 < 50")
    assert _held_for_votes(win, None, gated) == win  # the first version has nobody to be compared with
    assert _held_for_votes(loss, champion, gated) == loss  # a loser does not wait for votes
    assert _held_for_votes(win, champion, RegisterParams()) == win  # the gate off: promoted as before


def test_the_gate_reads_the_primary_metric_first() -> None:
    """With register.primary_metric: fd_dino the stored figures are compared on it, not on FID."""
    policy = RegisterParams(fid_margin=1.0, alignment_tolerance=0.01, primary_metric="fd_dino")
    better_fid_worse_fd = {**_m(10, 0.5), "fd_dino": 300.0}
    champion = {**_m(50, 0.5), "fd_dino": 200.0}
    decision = decide(better_fid_worse_fd, champion, policy)
    assert not decision.promote and "fd_dino 300.000 does not beat the champion's 200.000" in decision.reason
    assert decide({**_m(60, 0.5), "fd_dino": 150.0}, champion, policy).promote
    refused = decide(_m(10, 0.5), champion, policy)
    assert not refused.promote and "challenger has no fd_dino" in refused.reason
