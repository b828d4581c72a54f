"""Diff two snapshots into the shared change vocabulary, and trace one object's history across snapshots."""

from core.diff.engine import diff, type_order
from core.diff.fields import field_changes
from core.diff.history import AmbiguousObject, HistoryEntry, ObjectNotFound, find_object, history
from core.diff.model import (
    Attribution,
    Change,
    ChangeKind,
    FieldChange,
    LinkChange,
    RemovedReason,
    SnapshotRef,
)
from core.diff.reasons import LazyRemovedMaps, merge_removed, removed_between, removed_reason

__all__ = [
    "AmbiguousObject",
    "Attribution",
    "Change",
    "ChangeKind",
    "FieldChange",
    "HistoryEntry",
    "LazyRemovedMaps",
    "LinkChange",
    "ObjectNotFound",
    "RemovedReason",
    "SnapshotRef",
    "diff",
    "field_changes",
    "find_object",
    "history",
    "merge_removed",
    "removed_between",
    "removed_reason",
    "type_order",
]
