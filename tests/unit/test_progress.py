"""Stage progress: the lines a flow reads back, when they are printed, and what they say."""

from __future__ import annotations

import pytest

from t2igan.env import PROGRESS_LINES_ENV as LINES_ENV
from t2igan.progress import Progress, ProgressLine, parse, tracked


def _lines(captured: str) -> list[ProgressLine]:
    return [line for line in map(parse, captured.splitlines()) if line is not None]


def test_with_lines_on_every_step_is_reported_from_start_to_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LINES_ENV, "0")
    assert list(tracked("abc", "evaluate", "judge-training", 3)) == ["a", "b", "c"]
    lines = _lines(capsys.readouterr().out)
    assert [(line.done, line.total) for line in lines][:4] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert lines[-1] == ProgressLine("evaluate", "judge-training", 3, 3) and lines[-1].percent == 100.0


def test_lines_are_throttled_to_the_interval_but_the_start_and_the_end_always_show(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LINES_ENV, "3600")
    with Progress("validate", "decode-images", 1000, unit="img") as progress:
        for _ in range(10):
            progress.advance(100)
    assert [(line.done, line.total) for line in _lines(capsys.readouterr().out)] == [(0, 1000), (1000, 1000)]


def test_without_the_variable_a_person_sees_only_the_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(LINES_ENV, raising=False)
    list(tracked(range(4), "evaluate", "judge-training", 4, unit="epoch"))
    captured = capsys.readouterr()
    assert _lines(captured.out) == [] and _lines(captured.err) == []
    assert "evaluate: judge-training" in captured.err and "4/4" in captured.err  # the bar


def test_a_failed_phase_is_not_reported_as_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LINES_ENV, "3600")
    with pytest.raises(RuntimeError), Progress("evaluate", "inception-real", 10) as progress:
        progress.advance(4)
        raise RuntimeError("out of memory")
    assert [line.done for line in _lines(capsys.readouterr().out)] == [0]


def test_a_line_is_found_behind_a_bar_redrawn_without_a_newline() -> None:
    bar = "evaluate: inception-real:  40%|####      | 400/1000 [00:40<01:00]"
    shared = bar + "t2igan-progress evaluate inception-real 400/1000"
    assert parse(shared) == ProgressLine("evaluate", "inception-real", 400, 1000)
    assert parse(shared).percent == 40.0  # type: ignore[union-attr]
    assert parse("t2igan evaluate: done in 3.0s") is None and parse("t2igan-progress x y 1/") is None
    assert ProgressLine("validate", "decode-images", 0, 0).percent == 100.0  # nothing to do is done
