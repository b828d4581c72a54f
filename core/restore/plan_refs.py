"""Who in a snapshot points at an object: the links and references to rewrite when it is recreated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from core.registry import object_type
from core.snapshots import SnapshotReader


@dataclass(frozen=True)
class Holder:
    """``object_type/object_id`` holds ``target_id`` in relationship ``name`` (kind link) or at the dotted
    property path ``name`` (kind reference)."""

    kind: Literal["link", "reference"]
    object_type: str
    object_id: str
    name: str
    target_id: str


def holders_of(reader: SnapshotReader, targets: Mapping[str, str]) -> Iterator[Holder]:
    """Every link and reference in the snapshot to one of ``targets`` (id -> type), type by type.

    Only the types that can point at the targets' types are read, one record at a time.
    """
    wanted = set(targets.values())
    for name in reader.type_names():
        t = object_type(name)
        rels = [r for r in t.relationships if wanted & set(r.targets)]
        refs = [r for r in t.references if wanted & set(r.targets)]
        if not rels and not refs:
            continue
        for stored in reader.objects(name):
            for rel in rels:
                value = stored.links.get(rel.name)
                ids = [value] if isinstance(value, str) else (value or [])
                for target in ids:
                    if target in targets and targets[target] in rel.targets:
                        yield Holder("link", name, stored.id, rel.name, target)
            if refs:
                for ref, target in t.referenced_ids(stored.object):
                    if target in targets and ref in refs and stored.id != target:
                        yield Holder("reference", name, stored.id, ref.path, target)


def service_principals_of(reader: SnapshotReader, app_ids: set[str]) -> list[str]:
    """Ids of the snapshot's service principals whose appId is one of ``app_ids``."""
    return [e.id for e in reader.entries("servicePrincipal") if e.principal in app_ids]
