"""Catalog tables (sqlmodel) and the plain row types the service API returns.

The tables live in their own registry so that other sqlmodel users in the process never leak into the
catalog's metadata or its migrations. ``*_key`` columns hold lowercased copies for case-insensitive lookups;
on PostgreSQL they use the "C" collation so that prefix ranges follow code points and can use the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

VERSION_TABLE = "catalog_schema_version"

catalog_registry = registry()

# Lowercased search keys in code-point order on PostgreSQL too, so [p, p + U+10FFFF) is an index prefix scan.
SEARCH_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


class CatalogTable(SQLModel, registry=catalog_registry):
    """Base of the catalog's tables."""


class Tenant(CatalogTable, table=True):
    __tablename__ = "tenants"

    tenant_id: str = Field(primary_key=True)
    display_name: str | None = None
    domain: str | None = None
    added_at: datetime = Field(sa_type=UTCDateTime)
    # Last snapshot sequence number handed out; never reused, so intervals stay valid after removals.
    last_seq: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": sa.text("0")})


class Snapshot(CatalogTable, table=True):
    __tablename__ = "snapshots"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "seq", name="uq_snapshots_tenant_seq"),
        sa.Index("ix_snapshots_tenant_created", "tenant_id", "created_at"),
    )

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.tenant_id", ondelete="CASCADE")
    snapshot_id: str = Field(primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=UTCDateTime)
    kind: str
    parent_id: str | None = None
    counts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    bytes_added: int = Field(default=0, sa_type=sa.BigInteger)
    status: str
    tool_version: str


class ObjectVersionTable(CatalogTable, table=True):
    """One version of one object, present in every snapshot with first_seq <= seq <= last_seq.

    ``last_seq`` NULL means "current": present up to the tenant's newest snapshot until superseded.
    """

    __tablename__ = "object_versions"
    __table_args__ = (
        # At most one current version per object, even with two writers.
        sa.Index(
            "uq_object_versions_current",
            "tenant_id",
            "object_id",
            "object_type",
            unique=True,
            sqlite_where=sa.text("last_seq IS NULL"),
            postgresql_where=sa.text("last_seq IS NULL"),
        ),
        sa.Index("ix_object_versions_principal", "tenant_id", "principal_key"),
        sa.Index("ix_object_versions_display", "tenant_id", "display_key"),
    )

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.tenant_id", ondelete="CASCADE")
    object_id: str = Field(primary_key=True)
    object_type: str = Field(primary_key=True)
    first_seq: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    last_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    blob_id: str
    display_name: str | None = None
    principal_name: str | None = None
    display_key: str | None = Field(default=None, sa_type=SEARCH_KEY)
    principal_key: str | None = Field(default=None, sa_type=SEARCH_KEY)


class DeltaToken(CatalogTable, table=True):
    __tablename__ = "delta_tokens"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.tenant_id", ondelete="CASCADE")
    object_type: str = Field(primary_key=True)
    token: str = Field(sa_type=sa.Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


# --- Operations: alert destinations, baselines, announced alerts, scheduled runs (revision 0002) -----------


class Destination(CatalogTable, table=True):
    """Where alerts and summaries go: a chat channel (or a test recorder), for one tenant or all ("*")."""

    __tablename__ = "destinations"
    __table_args__ = (sa.UniqueConstraint("platform", "channel", "tenant_id", name="uq_destinations_target"),)

    destination_id: str = Field(primary_key=True)
    platform: str  # slack, teams, test
    channel: str  # the platform's channel or conversation id
    tenant_id: str  # a tenant id, or "*" for every tenant
    alerts: bool = True
    summary: bool = True
    min_severity: str = "warning"  # info, warning, critical
    summary_time: str = "08:00"  # local time of the daily summary
    timezone: str = "UTC"
    paused: bool = False
    paused_reason: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = None


class Baseline(CatalogTable, table=True):
    """The approved state of a tenant; daily summaries report drift from it."""

    __tablename__ = "baselines"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.tenant_id", ondelete="CASCADE")
    snapshot_id: str
    set_at: datetime = Field(sa_type=UTCDateTime)
    set_by: str | None = None


class Announcement(CatalogTable, table=True):
    """An alert already sent, by fingerprint, so a flapping setting is not announced again and again."""

    __tablename__ = "announcements"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.tenant_id", ondelete="CASCADE")
    fingerprint: str = Field(primary_key=True)
    state: str  # what the announced change left behind, e.g. "disabled"
    first_at: datetime = Field(sa_type=UTCDateTime)
    last_at: datetime = Field(sa_type=UTCDateTime)
    count: int = 1


class Run(CatalogTable, table=True):
    """One scheduled job in one slot. The primary key makes a slot run once however many schedulers race."""

    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_tenant_started", "tenant_id", "started_at"),)

    tenant_id: str = Field(primary_key=True)  # "*" for jobs that are not per tenant
    job: str = Field(primary_key=True)  # incremental, full, summary, prune
    target: str = Field(primary_key=True, default="")  # e.g. the destination of a summary
    slot: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    status: str  # running, succeeded, failed
    owner: str  # host:pid of the scheduler that claimed the slot
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=sa.Text)
    snapshot_id: str | None = None


# --- Restore: requests, decisions, the step journal, object locks, the audit trail (revision 0003) --------


class RestoreRequest(CatalogTable, table=True):
    """A restore plan someone asked to run. ``version`` makes every state change a compare-and-set."""

    __tablename__ = "restore_requests"
    __table_args__ = (sa.Index("ix_restore_requests_tenant_created", "tenant_id", "created_at"),)

    request_id: str = Field(primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.tenant_id", ondelete="CASCADE")
    state: (
        str  # pending, approved, executing, succeeded, partially_failed, failed, rejected, expired, cancelled
    )
    version: int = 1
    plan_hash: str  # SHA-256 of the plan's canonical JSON: what is approved is exactly what runs
    plan: str = Field(sa_type=sa.Text)  # the plan's canonical JSON
    selector: str
    snapshot_id: str
    summary: str = Field(sa_type=sa.Text)  # one line for lists and chat
    requester_key: str  # the resolved person (see core.restore.identity)
    requester: str = Field(sa_type=sa.Text)  # the requester's identity as JSON (aliases, display name)
    required_approvals: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    origin: str | None = Field(
        default=None, sa_type=sa.Text
    )  # where the request was made (chat message), JSON
    result: str | None = Field(default=None, sa_type=sa.Text)  # per-object outcome as JSON
    error: str | None = Field(default=None, sa_type=sa.Text)


class RestoreDecision(CatalogTable, table=True):
    """One person's approval or rejection; the key stops the same person counting twice."""

    __tablename__ = "restore_decisions"

    request_id: str = Field(primary_key=True, foreign_key="restore_requests.request_id", ondelete="CASCADE")
    person_key: str = Field(primary_key=True)
    decision: str  # approve, reject
    person: str = Field(sa_type=sa.Text)  # identity JSON
    decided_at: datetime = Field(sa_type=UTCDateTime)


class RestoreStep(CatalogTable, table=True):
    """The journal: a step is written before it runs and after it ends, so a resumed run never repeats it."""

    __tablename__ = "restore_steps"

    request_id: str = Field(primary_key=True, foreign_key="restore_requests.request_id", ondelete="CASCADE")
    action_key: str = Field(primary_key=True)
    state: str  # started, done, failed, skipped
    attempts: int = 1
    new_id: str | None = None  # the id a recreated object got
    detail: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RestoreLock(CatalogTable, table=True):
    """An object an executing restore is writing; the key keeps overlapping restores from running at once."""

    __tablename__ = "restore_locks"

    tenant_id: str = Field(primary_key=True)
    object_key: str = Field(primary_key=True)  # "type/id"
    request_id: str = Field(foreign_key="restore_requests.request_id", ondelete="CASCADE")
    locked_at: datetime = Field(sa_type=UTCDateTime)


class AuditEvent(CatalogTable, table=True):
    """Append-only: every request, decision and result. ``digest`` chains each event to the one before."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_tenant_at", "tenant_id", "at"),)

    # SQLite only auto-increments an INTEGER PRIMARY KEY.
    seq: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    )
    tenant_id: str
    at: datetime = Field(sa_type=UTCDateTime)
    event: str  # requested, approved, rejected, refused, expired, cancelled, executing, succeeded, ...
    request_id: str | None = None
    actor: str | None = None  # person key, or "rewind" for the system
    detail: str = Field(sa_type=sa.Text)  # JSON
    digest: str  # SHA-256 over the previous digest and this event's canonical JSON


class Mute(CatalogTable, table=True):
    """An alert someone muted in one destination: the same findings stay quiet there until ``until``."""

    __tablename__ = "mutes"

    destination_id: str = Field(
        primary_key=True, foreign_key="destinations.destination_id", ondelete="CASCADE"
    )
    fingerprint: str = Field(primary_key=True)  # a finding's rule + object (core.alerts.finding)
    tenant_id: str
    until: datetime = Field(sa_type=UTCDateTime)
    muted_by: str | None = None
    muted_at: datetime = Field(sa_type=UTCDateTime)


METADATA = catalog_registry.metadata
TENANTS = METADATA.tables["tenants"]
SNAPSHOTS = METADATA.tables["snapshots"]
VERSIONS = METADATA.tables["object_versions"]
DELTA_TOKENS = METADATA.tables["delta_tokens"]
DESTINATIONS = METADATA.tables["destinations"]
BASELINES = METADATA.tables["baselines"]
ANNOUNCEMENTS = METADATA.tables["announcements"]
RUNS = METADATA.tables["runs"]
RESTORE_REQUESTS = METADATA.tables["restore_requests"]
RESTORE_DECISIONS = METADATA.tables["restore_decisions"]
RESTORE_STEPS = METADATA.tables["restore_steps"]
RESTORE_LOCKS = METADATA.tables["restore_locks"]
AUDIT_EVENTS = METADATA.tables["audit_events"]
MUTES = METADATA.tables["mutes"]


# --- Rows returned by (or given to) the Catalog API --------------------------------------------------------


@dataclass(frozen=True)
class TenantRow:
    tenant_id: str
    display_name: str | None
    domain: str | None
    added_at: datetime


@dataclass(frozen=True)
class SnapshotRow:
    tenant_id: str
    snapshot_id: str
    created_at: datetime  # aware, UTC
    kind: Literal["full", "incremental"]
    parent_id: str | None
    counts: dict[str, int] = field(default_factory=dict, hash=False)
    bytes_added: int = 0
    status: Literal["complete"] = "complete"
    tool_version: str = ""
    seq: int | None = field(default=None, compare=False)  # assigned by the catalog; ignored on input


@dataclass(frozen=True)
class ObjectVersion:
    """One object as found in one snapshot (input to ``record_versions``)."""

    object_type: str
    object_id: str
    blob_id: str
    display_name: str | None = None
    principal_name: str | None = None  # userPrincipalName, else mail


@dataclass(frozen=True)
class ObjectVersionRow:
    tenant_id: str
    object_type: str
    object_id: str
    blob_id: str
    display_name: str | None
    principal_name: str | None
    first_snapshot_id: str
    last_snapshot_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    current: bool  # not superseded nor deleted as of the newest snapshot


@dataclass(frozen=True)
class ObjectRef:
    object_type: str
    object_id: str
    display_name: str | None
    principal_name: str | None


def named_exactly(refs: Iterable[ObjectRef], text: str) -> list[ObjectRef]:
    """The objects among ``refs`` that ``text`` names exactly, each once: by id if any matches, else by
    principal name, else by display name (all case-insensitive). Empty when none does."""
    key = text.strip().lower()
    refs = list(refs)
    names: tuple[Callable[[ObjectRef], str | None], ...] = (
        lambda r: r.object_id,
        lambda r: r.principal_name,
        lambda r: r.display_name,
    )
    for name in names:
        distinct = {(r.object_type, r.object_id): r for r in refs if (name(r) or "").lower() == key}
        if distinct:
            return list(distinct.values())
    return []


def snapshot_values(row: SnapshotRow, seq: int) -> dict[str, Any]:
    return {
        "tenant_id": row.tenant_id,
        "snapshot_id": row.snapshot_id,
        "seq": seq,
        "created_at": row.created_at,
        "kind": row.kind,
        "parent_id": row.parent_id,
        "counts": dict(row.counts),
        "bytes_added": row.bytes_added,
        "status": row.status,
        "tool_version": row.tool_version,
    }
