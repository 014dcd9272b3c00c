"""The feedback database: Alembic builds it from nothing, goes down and up again, and every write is whole."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from t2igan.data.hard_prompts import read_hard_prompts, write_hard_prompts
from t2igan.feedback.database import create_engine, feedback_url, open_database
from t2igan.feedback.disliked import hard_prompts
from t2igan.feedback.summary import summary_since_last
from t2igan.feedback.tables import Vote
from t2igan.feedback.tokens import Shown
from t2igan.feedback.votes import AlreadyRecorded, RefusedFeedback, record_thumb, record_vote
from t2igan.paths import ProjectPaths
from tests.support.migrations import current_revision, downgrade
from tests.support.project import tiny_params

SESSION = "5b0e0a56-4b5e-4a43-9d0c-8f7f0c5f5a11"


def _shown(caption: str = "a red circle", left: str = "2", right: str = "1") -> Shown:
    return Shown("t2igan", caption, [3, 4], {"left": left, "right": right}, SESSION)


def test_the_default_database_is_a_sqlite_file_in_the_project_and_the_variable_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T2IGAN_FEEDBACK_URL", raising=False)
    assert feedback_url(ProjectPaths.at(tmp_path)) == f"sqlite:///{tmp_path / 'feedback' / 'feedback.db'}"
    monkeypatch.setenv("T2IGAN_FEEDBACK_URL", "postgresql://u@127.0.0.1/feedback")
    assert feedback_url(ProjectPaths.at(tmp_path)) == "postgresql://u@127.0.0.1/feedback"


def test_migrations_build_the_schema_from_nothing_and_go_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'feedback.db'}"
    open_database(url)
    engine = create_engine(url)
    assert current_revision(engine) == "0002"
    assert {"votes", "thumbs", "summary_marks"} <= set(inspect(engine).get_table_names())
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001" and "summary_marks" not in inspect(engine).get_table_names()
    downgrade(engine, "base")
    assert not {"votes", "thumbs"} & set(inspect(engine).get_table_names())
    open_database(url)  # an old database is brought up to date when opened
    assert current_revision(engine) == "0002"


def test_the_migrations_build_exactly_the_schema_the_tables_declare(tmp_path: Path) -> None:
    # `alembic check` in a test: autogenerate finds nothing to add, drop or change between the migrated
    # database and the ORM's metadata (a column added to one and not the other fails here)
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from t2igan.feedback.tables import Base

    url = f"sqlite:///{tmp_path / 'f.db'}"
    open_database(url)
    with create_engine(url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_vote_is_stored_once_and_a_replay_or_a_mismatch_writes_nothing(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    shown = _shown()
    vote = record_vote(sessions, shown, "left", SESSION)
    assert vote.winner_version == "2"
    with pytest.raises(AlreadyRecorded):
        record_vote(sessions, shown, "right", SESSION)
    with pytest.raises(RefusedFeedback, match="another session"):
        record_vote(sessions, _shown(), "left", "someone-else")
    with pytest.raises(RefusedFeedback, match="choice must be one of"):
        record_vote(sessions, _shown(), "middle", SESSION)
    single = Shown("t2igan", "x", [1], {"single": "1"}, SESSION)
    with pytest.raises(RefusedFeedback, match="only a comparison"):
        record_vote(sessions, single, "left", SESSION)
    with pytest.raises(RefusedFeedback, match="image must be between 0 and 0"):
        record_thumb(sessions, single, "single", 1, True, SESSION)
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Vote)).scalar_one() == 1


def test_concurrent_votes_are_all_kept(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    shown = [_shown(caption=f"caption {i}") for i in range(40)]
    errors: list[BaseException] = []

    def vote(items: list[Shown]) -> None:
        try:
            for item in items:
                record_vote(sessions, item, "right", SESSION)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(shown[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Vote)).scalar_one() == 40


def test_hard_prompts_are_the_disliked_captions_sorted_and_written_whole(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    record_vote(sessions, _shown("zebra, striped"), "both_bad", SESSION)
    record_vote(sessions, _shown("a fine picture"), "left", SESSION)
    single = Shown("t2igan", 'a "quoted" caption', [9, 10], {"single": "1"}, SESSION)
    record_thumb(sessions, single, "single", 0, False, SESSION)
    record_thumb(sessions, single, "single", 1, False, SESSION)
    with sessions() as session:
        found = hard_prompts(session, "t2igan")
    assert [(p.caption, p.both_bad, p.thumbs_down) for p in found] == [
        ('a "quoted" caption', 0, 2),
        ("zebra, striped", 1, 0),
    ]
    target = tmp_path / "data" / "hard_prompts.csv"
    write_hard_prompts(found, target)
    assert read_hard_prompts(target) == ['a "quoted" caption', "zebra, striped"]
    assert read_hard_prompts(tmp_path / "missing.csv") == []


def test_the_flow_summary_covers_only_what_came_since_it_last_asked(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    params = tiny_params()
    record_vote(sessions, _shown("one"), "left", SESSION)
    first = summary_since_last(sessions, params, reader="flow:a")
    assert first["votes"] == 1 and first["since"] is None and first["pairs"][0]["wins"] == 1
    assert summary_since_last(sessions, params, reader="flow:a")["votes"] == 0
    record_vote(sessions, _shown("two"), "right", SESSION)
    later = summary_since_last(sessions, params, reader="flow:a")
    assert later["votes"] == 1 and later["pairs"][0]["losses"] == 1 and later["since"]
    assert summary_since_last(sessions, params, reader="flow:b")["votes"] == 2  # each reader has its mark
