"""Column mappings saved by name, and the mapping an import uses: saved, a plugin's preset, or given.

Saving, changing and deleting a mapping is audited like any record. A name
is unique (a taken one is 409 naming ``name``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.declarations import ImportMapping, ImportPreset
from kpi_core.errors import Invalid, NotFound
from kpi_core.imports.jobs import JOB_COLUMNS
from kpi_core.imports.mapping import check_mapping
from kpi_core.imports.mapping_io import mapping_from_json, mapping_to_json
from kpi_core.records import changes
from kpi_core.storage.models import SavedMapping

ENTITY = "import_mapping"


def mapping_query() -> Select[tuple[SavedMapping]]:
    return select(SavedMapping).order_by(SavedMapping.name, SavedMapping.id)


def get_saved(session: Session, mapping_id: int) -> SavedMapping:
    saved = session.get(SavedMapping, mapping_id)
    if saved is None:
        raise NotFound(f"no saved mapping with id {mapping_id}")
    return saved


def saved_by_name(session: Session, name: str) -> SavedMapping:
    saved = session.scalar(select(SavedMapping).where(SavedMapping.name == name))
    if saved is None:
        raise NotFound(f"no saved mapping is named {name!r}")
    return saved


def create_saved(
    session: Session, actor: Actor, name: str, mapping: ImportMapping, job_fields: Iterable[str] = ()
) -> SavedMapping:
    """Save ``mapping`` as ``name`` (audited); it may fill the plugins' ``job_fields`` (their keys)."""
    name = _name(name)
    check_mapping(mapping, (*JOB_COLUMNS, *job_fields))
    changes.ensure_unique(session, SavedMapping, "name", name)
    saved = SavedMapping(name=name, mapping=mapping_to_json(mapping), created_by_id=actor.user_id)
    return changes.create(session, actor, ENTITY, saved, unique_field="name")


def update_saved(
    session: Session, actor: Actor, saved: SavedMapping, data: Mapping[str, Any], job_fields: Iterable[str] = ()
) -> SavedMapping:
    """Rename it (``name``) or replace its mapping (``mapping``: an ImportMapping, which may fill the plugins'
    ``job_fields``); the difference is audited."""
    updates: dict[str, Any] = {}
    if "name" in data:
        updates["name"] = _name(data["name"])
        changes.ensure_unique(session, SavedMapping, "name", updates["name"], exclude_id=saved.id)
    if "mapping" in data:
        check_mapping(data["mapping"], (*JOB_COLUMNS, *job_fields))
        updates["mapping"] = mapping_to_json(data["mapping"])
    return changes.update(session, actor, ENTITY, saved, updates, "name")


def delete_saved(session: Session, actor: Actor, saved: SavedMapping) -> None:
    changes.delete(session, actor, ENTITY, saved)


def _name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise Invalid("name", "enter a name of 1 to 200 characters, such as “Housecall Pro, our columns”")
    return cleaned


def choose_mapping(
    session: Session,
    presets: Mapping[str, ImportPreset],
    *,
    given: Any = None,
    saved: str | None = None,
    preset: str | None = None,
    location: str = "query",
) -> ImportMapping | None:
    """The mapping an import names: ``given`` (its JSON form), a ``saved`` name or a ``preset`` key;
    None when it names none. Naming two is Invalid, and so is an unknown name or key."""
    named = [option for option, value in (("mapping", given), ("mapping_name", saved), ("preset", preset)) if value]
    if len(named) > 1:
        raise Invalid(named[1], f"give one of {' or '.join(named)}, not both", location)
    if given:
        return mapping_from_json(given, "mapping", "form" if location == "query" else location)
    if saved:
        try:
            return mapping_from_json(saved_by_name(session, saved).mapping)
        except NotFound:
            raise Invalid("mapping_name", f"no saved mapping is named “{saved}”", location) from None
    if preset:
        if preset not in presets:
            known = ", ".join(sorted(presets)) or "none are installed"
            raise Invalid("preset", f"no import preset {preset!r} (presets: {known})", location)
        return presets[preset].mapping
    return None
