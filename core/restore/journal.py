"""The restore journal: every step is recorded before it runs and after it ends (``RESTORE_STEPS``).

Steps are recorded as started in a committed transaction before their write is sent, and as ended in another
after its answer came back (the steps of one ``$batch`` together, one transaction each way), so a run killed
at any point leaves a journal that says which steps finished ("done", "failed", "skipped") and which may or
may not have happened ("started"). A resumed run never repeats a finished step and checks for the effect of
a started one before redoing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from core.catalog import Catalog
from core.catalog.models import RESTORE_STEPS

StepState = Literal["started", "done", "failed", "skipped"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "skipped"})


@dataclass(frozen=True)
class StepRow:
    action_key: str
    state: StepState
    attempts: int
    new_id: str | None
    detail: str | None
    started_at: datetime
    finished_at: datetime | None

    def aliases(self) -> dict[str, str]:
        """Other old -> new values this step created (a recreated application's appId)."""
        if not self.detail or not self.detail.startswith("{"):
            return {}
        try:
            data = json.loads(self.detail)
        except ValueError:
            return {}
        aliases = data.get("aliases") if isinstance(data, dict) else None
        return {str(k): str(v) for k, v in aliases.items()} if isinstance(aliases, dict) else {}

    def reason(self) -> str | None:
        """The human part of ``detail``: why a step failed or was skipped."""
        if not self.detail or not self.detail.startswith("{"):
            return self.detail
        try:
            data = json.loads(self.detail)
        except ValueError:
            return self.detail
        message = data.get("message") if isinstance(data, dict) else None
        return str(message) if message is not None else None


@dataclass(frozen=True)
class StepEnd:
    """How one step ended, as ``Journal.finish_many`` records it."""

    key: str
    state: Literal["done", "failed", "skipped"]
    new_id: str | None = None
    detail: str | None = None


def encode_detail(message: str | None = None, aliases: Mapping[str, str] | None = None) -> str | None:
    if not aliases:
        return message
    out: dict[str, Any] = {"aliases": dict(aliases)}
    if message is not None:
        out["message"] = message
    return json.dumps(out, sort_keys=True)


class Journal:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def begin(self, request_id: str, key: str) -> None:
        """Record that ``key`` is about to run: insert it as started, or count one more attempt."""
        self.begin_many(request_id, [key])

    def begin_many(self, request_id: str, keys: Iterable[str]) -> None:
        """``begin`` for several steps about to run together (one $batch), in one committed transaction."""
        keys = list(keys)
        if not keys:
            return
        now = self.catalog.clock()
        table = RESTORE_STEPS
        with self.catalog.writing() as conn:
            existing = {
                row.action_key: row
                for row in conn.execute(
                    sa.select(table.c.action_key, table.c.state, table.c.attempts).where(
                        table.c.request_id == request_id, table.c.action_key.in_(keys)
                    )
                )
            }
            for key in keys:
                row = existing.get(key)
                if row is None:
                    conn.execute(
                        table.insert().values(
                            request_id=request_id, action_key=key, state="started", attempts=1, started_at=now
                        )
                    )
                elif row.state not in FINISHED:
                    conn.execute(
                        table.update()
                        .where(table.c.request_id == request_id, table.c.action_key == key)
                        .values(attempts=row.attempts + 1, started_at=now)
                    )
                else:
                    raise ValueError(f"step {key} of request {request_id} already ended ({row.state})")

    def done(self, request_id: str, key: str, new_id: str | None = None, detail: str | None = None) -> None:
        self.finish_many(request_id, [StepEnd(key, "done", new_id, detail)])

    def failed(self, request_id: str, key: str, detail: str | None = None) -> None:
        self.finish_many(request_id, [StepEnd(key, "failed", None, detail)])

    def skipped(self, request_id: str, key: str, detail: str | None = None) -> None:
        self.finish_many(request_id, [StepEnd(key, "skipped", None, detail)])

    def finish_many(self, request_id: str, ends: Iterable[StepEnd]) -> None:
        """Record the ends of several steps (the answers of one ``$batch``) in one committed transaction."""
        ends = list(ends)
        if not ends:
            return
        now = self.catalog.clock()
        with self.catalog.writing() as conn:
            for end in ends:
                _finish(conn, request_id, end, now)

    def steps(self, request_id: str) -> dict[str, StepRow]:
        table = RESTORE_STEPS
        with self.catalog.reading() as conn:
            rows = conn.execute(sa.select(table).where(table.c.request_id == request_id)).all()
        return {
            row.action_key: StepRow(
                action_key=row.action_key,
                state=row.state,
                attempts=row.attempts,
                new_id=row.new_id,
                detail=row.detail,
                started_at=row.started_at,
                finished_at=row.finished_at,
            )
            for row in rows
        }

    def new_ids(self, request_id: str) -> dict[str, str]:
        """Old id -> new id for every object this request recreated (and a recreated app's appId)."""
        return remap_table(self.steps(request_id).values())


def _finish(conn: sa.Connection, request_id: str, end: StepEnd, now: datetime) -> None:
    table = RESTORE_STEPS
    values = {"state": end.state, "new_id": end.new_id, "detail": end.detail, "finished_at": now}
    updated = conn.execute(
        table.update()
        .where(
            table.c.request_id == request_id,
            table.c.action_key == end.key,
            table.c.state.not_in(sorted(FINISHED)),
        )
        .values(**values)
    ).rowcount
    if updated:
        return
    row = conn.execute(
        sa.select(table.c.state).where(table.c.request_id == request_id, table.c.action_key == end.key)
    ).first()
    if row is not None:
        raise ValueError(f"step {end.key} of request {request_id} already ended ({row.state})")
    # A step that never started (skipped for a failed dependency) is written ended straight away.
    conn.execute(
        table.insert().values(request_id=request_id, action_key=end.key, attempts=0, started_at=now, **values)
    )


def remap_table(rows: Iterable[StepRow]) -> dict[str, str]:
    """Old -> new values recorded by finished steps (the executor records a recreate's ids as aliases)."""
    out: dict[str, str] = {}
    for row in rows:
        if row.state == "done":
            out.update(row.aliases())
    return out
