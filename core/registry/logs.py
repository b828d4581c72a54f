"""Audit and sign-in logs, archived by time window so they outlive Entra's 7/30-day retention."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogStream:
    name: str  # Graph resource type name: directoryAudit, signIn
    path: str
    time_field: str  # filtered with ge/lt to read one window at a time
    page_size: int
    read_permission: str


DIRECTORY_AUDITS = LogStream(
    "directoryAudit", "/auditLogs/directoryAudits", "activityDateTime", 999, "AuditLog.Read.All"
)
SIGN_INS = LogStream("signIn", "/auditLogs/signIns", "createdDateTime", 1000, "AuditLog.Read.All")
LOG_STREAMS: tuple[LogStream, ...] = (DIRECTORY_AUDITS, SIGN_INS)
