"""kpi_core.storage.commits: work waits for the outermost commit, not a SAVEPOINT's release.

SQLAlchemy fires ``after_commit`` when a ``begin_nested()`` block is released too. Before this,
the in-process runner submitted a run queued inside such a block (as notification delivery and
alerts do) while the request's transaction was still open, and a rollback of a SAVEPOINT forgot
the runs queued before it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kpi_core.storage.commits import call_after_commit
from kpi_core.storage.versions import bump, watch


def test_a_callback_registered_in_a_savepoint_waits_for_the_outer_commit(database):
    called: list[str] = []
    with Session(database.engine) as session:
        session.begin()
        with session.begin_nested():
            call_after_commit(session, lambda: called.append("queued in the savepoint"))
        assert called == [], "released SAVEPOINT is not a commit"
        session.commit()

    assert called == ["queued in the savepoint"]


def test_a_savepoint_rolled_back_forgets_only_its_own_callbacks(database):
    called: list[str] = []
    with Session(database.engine) as session:
        session.begin()
        call_after_commit(session, lambda: called.append("before"))
        savepoint = session.begin_nested()
        call_after_commit(session, lambda: called.append("inside, rolled back"))
        with session.begin_nested():
            call_after_commit(session, lambda: called.append("nested deeper, rolled back with it"))
        savepoint.rollback()
        with session.begin_nested():
            call_after_commit(session, lambda: called.append("after"))
        session.commit()

    assert called == ["before", "after"]


def test_a_rolled_back_transaction_forgets_every_callback(database):
    called: list[str] = []
    with Session(database.engine) as session:
        session.begin()
        call_after_commit(session, lambda: called.append("outer"))
        with session.begin_nested():
            call_after_commit(session, lambda: called.append("inner"))
        session.rollback()
        session.begin()
        session.commit()

    assert called == []


def test_data_version_watchers_hear_of_a_change_once_it_is_committed(database):
    heard: list[set[str]] = []
    watch(database.engine, lambda keys: heard.append(keys))
    try:
        with Session(database.engine) as session:
            session.begin()
            bump(session, ["2026-03"])
            with session.begin_nested():
                bump(session, ["2026-04"])
            with session.begin_nested() as rolled_back:
                bump(session, ["2026-05"])
                rolled_back.rollback()
            assert heard == [], "nothing is visible to others before the commit"
            session.commit()
    finally:
        watch(database.engine, None)

    # 2026-05 was rolled back with its SAVEPOINT: hearing of it costs a warm-up, never a wrong number.
    assert heard in ([{"2026-03", "2026-04"}], [{"2026-03", "2026-04", "2026-05"}])
