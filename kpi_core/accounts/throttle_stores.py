"""Where the login throttle counts attempts: the database, or Redis when configured.

Both make "read the counts, decide, count this attempt" one atomic step
across every process (see :class:`kpi_core.accounts.throttle.FailureStore`),
and both forget what is older than the window as new attempts come in, so
nothing grows for ever.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import redis
from redis.exceptions import RedisError, WatchError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kpi_core.accounts.throttle import AttemptKeys, History, ThrottlePolicy
from kpi_core.errors import Unavailable
from kpi_core.storage.db import WRITE_OPTION
from kpi_core.storage.models import LoginFailure

PRUNE_BATCH = 500  # rows past the window deleted per attempt: bounded work, and the table still shrinks
NAMESPACE = "kpi-login"
MOST_RACES = 50
"""Redis: attempts lost to concurrent ones before this one gives up and is told to retry in a second."""
T = TypeVar("T")


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class DatabaseStore:
    """Counts in the table ``login_failures``, written through the login request's own session.

    The request's session is used, not a connection of the store's own: on SQLite the request
    already holds the write lock, which a second connection would wait for in vain.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def reserve(self, session: Session, keys: AttemptKeys, now: float, policy: ThrottlePolicy) -> int | None:
        cutoff = _instant(now - policy.window_seconds)
        self._lock(session, keys)
        # On SQLite this delete takes the write lock (if the transaction did not already) before
        # the counts are read: logins in every process then queue, one at a time, for this step.
        self._prune(session, cutoff)
        in_window = LoginFailure.attempted_at > cutoff
        user_rows = session.execute(
            select(LoginFailure.client, LoginFailure.attempted_at)
            .where(LoginFailure.username == keys.username, in_window)
            .order_by(LoginFailure.attempted_at)
        ).all()
        client_times = session.scalars(
            select(LoginFailure.attempted_at)
            .where(LoginFailure.client == keys.client, in_window)
            .order_by(LoginFailure.attempted_at)
        )
        history = History(
            pair=[at.timestamp() for client, at in user_rows if client == keys.client],
            user=[at.timestamp() for _client, at in user_rows],
            client=[at.timestamp() for at in client_times],
        )
        wait = policy.retry_after(history, now)
        if wait is None:
            session.execute(
                insert(LoginFailure).values(username=keys.username, client=keys.client, attempted_at=_instant(now))
            )
        session.commit()
        if wait is None:
            # The login goes on to write (last login, audit): a write transaction again (SQLite: IMMEDIATE).
            session.connection(execution_options={WRITE_OPTION: True})
        return wait

    def forgive(self, session: Session, keys: AttemptKeys) -> None:
        session.execute(
            delete(LoginFailure).where(LoginFailure.username == keys.username, LoginFailure.client == keys.client)
        )

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(LoginFailure))

    @staticmethod
    def _lock(session: Session, keys: AttemptKeys) -> None:
        # PostgreSQL: one transaction at a time per username and per client address (advisory locks,
        # released at commit, taken in one order so that two logins never wait for each other in a
        # cycle). SQLite has one writer at a time anyway.
        if session.get_bind().dialect.name != "postgresql":
            return
        for lock in sorted({_lock_id("user", keys.username), _lock_id("client", keys.client)}):
            session.execute(select(func.pg_advisory_xact_lock(lock)))

    @staticmethod
    def _prune(session: Session, cutoff: datetime) -> None:
        # SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): rows another login is deleting
        # are left to it, so concurrent logins never wait for one another here.
        expired = (
            select(LoginFailure.id)
            .where(LoginFailure.attempted_at <= cutoff)
            .order_by(LoginFailure.id)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        session.execute(delete(LoginFailure).where(LoginFailure.id.in_(expired)))


def _lock_id(kind: str, value: str) -> int:
    digest = hashlib.blake2b(f"{NAMESPACE}:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _guarded(call: Callable[[], T]) -> T:
    # Without its counts the throttle cannot protect logins: refuse them (503) rather than let
    # guessing run unlimited, and never answer 500.
    try:
        return call()
    except (RedisError, ConnectionError, TimeoutError) as exc:
        raise Unavailable("logins are paused: the throttle's store (Redis) cannot be reached") from exc


class RedisStore:
    """Counts in Redis: one sorted set per count (pair, username, client), scored by time.

    Each attempt is a member of all three sets. "Read, decide, count" is an optimistic
    transaction (WATCH / MULTI / EXEC): if another attempt changed one of the sets meanwhile,
    this one reads again.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)

    @staticmethod
    def _names(keys: AttemptKeys) -> dict[str, str]:
        # A client key never holds a space, so "pair:<client> <username>" names one pair only.
        return {
            "pair": f"{NAMESPACE}:pair:{keys.client} {keys.username}",
            "user": f"{NAMESPACE}:user:{keys.username}",
            "client": f"{NAMESPACE}:client:{keys.client}",
        }

    def reserve(self, session: Session, keys: AttemptKeys, now: float, policy: ThrottlePolicy) -> int | None:
        return _guarded(lambda: self._reserve(keys, now, policy))

    def _reserve(self, keys: AttemptKeys, now: float, policy: ThrottlePolicy) -> int | None:
        names = self._names(keys)
        cutoff = now - policy.window_seconds
        expiry = math.ceil(policy.window_seconds) + 1
        for _ in range(MOST_RACES):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(*names.values())
                    times = {kind: self._times(pipe, name, cutoff) for kind, name in names.items()}
                    wait = policy.retry_after(History(**times), now)
                    member = uuid.uuid4().hex
                    pipe.multi()
                    for name in names.values():
                        pipe.zremrangebyscore(name, "-inf", cutoff)
                        if wait is None:
                            pipe.zadd(name, {member: now})
                            pipe.expire(name, expiry)
                    pipe.execute()
                    return wait
                except WatchError:
                    continue
        return 1

    @staticmethod
    def _times(pipe: redis.client.Pipeline, name: str, cutoff: float) -> list[float]:
        # Watched and not yet in MULTI, the pipeline runs this at once.
        return [score for _member, score in pipe.zrangebyscore(name, f"({cutoff}", "+inf", withscores=True)]

    def forgive(self, session: Session, keys: AttemptKeys) -> None:
        _guarded(lambda: self._forgive(keys))

    def _forgive(self, keys: AttemptKeys) -> None:
        names = self._names(keys)
        members = self.client.zrange(names["pair"], 0, -1)
        with self.client.pipeline() as pipe:
            if members:
                pipe.zrem(names["user"], *members)
                pipe.zrem(names["client"], *members)
            pipe.delete(names["pair"])
            pipe.execute()

    def clear(self) -> None:
        _guarded(lambda: self.client.delete(*keys) if (keys := list(self.client.scan_iter(f"{NAMESPACE}:*"))) else 0)
