"""Plugin settings: the values admins chose for what plugins declare through ``kpi_settings``.

A setting's value is the stored one, or else the default its plugin declares.
A stored value that no longer suits the declaration (a plugin upgrade changed
its bounds or type) is ignored in favour of the default and reported, rather
than breaking every KPI that reads it. Changes are audited and bump every
data version (:mod:`kpi_core.storage.versions`), since a setting can change
any KPI value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.declarations import Setting, SettingValueError
from kpi_core.errors import Invalid, NotFound
from kpi_core.plugins import PluginHost
from kpi_core.records import changes
from kpi_core.storage import versions
from kpi_core.storage.models import PluginSetting

ENTITY = "plugin_setting"


@dataclass(frozen=True)
class SettingValue:
    """A declared setting with the value in force and where it comes from."""

    setting: Setting
    plugin: str
    value: Any
    source: Literal["stored", "default"]
    updated_at: datetime | None = None
    problem: str | None = None
    """Why a stored value is ignored (it no longer suits the declaration), else None."""


def setting_values(session: Session, plugins: PluginHost) -> dict[str, SettingValue]:
    """Every declared setting of the loaded plugins, by key, with the value in force."""
    declared: dict[str, Setting] = plugins.settings
    stored = {row.key: row for row in _stored_rows(session, list(declared))}
    return {key: _value_of(plugins, setting, stored.get(key)) for key, setting in declared.items()}


def values_by_plugin(session: Session, plugins: PluginHost) -> dict[str, dict[str, Any]]:
    """Each plugin's settings as it reads them: {plugin: {name without namespace: value}}."""
    return grouped_by_plugin(setting_values(session, plugins))


def grouped_by_plugin(values: Mapping[str, SettingValue]) -> dict[str, dict[str, Any]]:
    """``values`` (from :func:`setting_values`) as {plugin: {name without namespace: value}}."""
    by_plugin: dict[str, dict[str, Any]] = {}
    for item in values.values():
        by_plugin.setdefault(item.plugin, {})[item.setting.name] = item.value
    return by_plugin


def get_setting(session: Session, plugins: PluginHost, key: str) -> SettingValue:
    setting = _declared(plugins, key)
    row = session.scalar(select(PluginSetting).where(*_where(key)))
    return _value_of(plugins, setting, row)


def put_setting(session: Session, plugins: PluginHost, actor: Actor, key: str, value: Any) -> SettingValue:
    """Store ``value`` for ``key`` (validated against the declaration: 422 naming ``value``); audited."""
    setting = _declared(plugins, key)
    try:
        parsed = setting.parse(value)
    except SettingValueError as exc:
        raise Invalid("value", f"{setting.label} {exc}") from None
    plugin, name = key.split(".", 1)
    row = session.scalar(select(PluginSetting).where(*_where(key)))
    if row is None:
        row = PluginSetting(plugin=plugin, name=name, value=parsed, updated_by_id=actor.user_id)
        changes.create(session, actor, ENTITY, row, unique_field="key")
    else:
        changes.update(session, actor, ENTITY, row, {"value": parsed, "updated_by_id": actor.user_id})
    versions.bump(session, [versions.EVERYTHING])
    return _value_of(plugins, setting, row)


def reset_setting(session: Session, plugins: PluginHost, actor: Actor, key: str) -> SettingValue:
    """Forget the stored value: the plugin's default applies again; audited."""
    setting = _declared(plugins, key)
    row = session.scalar(select(PluginSetting).where(*_where(key)))
    if row is not None:
        changes.delete(session, actor, ENTITY, row)
        versions.bump(session, [versions.EVERYTHING])
    return _value_of(plugins, setting, None)


def _declared(plugins: PluginHost, key: str) -> Setting:
    setting = plugins.settings.get(key)
    if setting is None:
        raise NotFound(f"no loaded plugin declares a setting {key!r}")
    return setting


def _where(key: str) -> tuple[Any, ...]:
    # Stored by namespace and name: the namespace is the key's first part, as declared.
    plugin, name = key.split(".", 1)
    return (PluginSetting.plugin == plugin, PluginSetting.name == name)


def _stored_rows(session: Session, keys: list[str]) -> list[Any]:
    if not keys:
        return []
    namespaces = sorted({key.split(".", 1)[0] for key in keys})
    rows = session.scalars(select(PluginSetting).where(PluginSetting.plugin.in_(namespaces)))
    return [_Keyed(f"{row.plugin}.{row.name}", row) for row in rows]


@dataclass(frozen=True)
class _Keyed:
    key: str
    row: PluginSetting


def _value_of(plugins: PluginHost, setting: Setting, stored: _Keyed | PluginSetting | None) -> SettingValue:
    row = stored.row if isinstance(stored, _Keyed) else stored
    plugin = plugins.owner_of("kpi_settings", setting.key)
    if row is None:
        return SettingValue(setting, plugin, setting.default, "default")
    try:
        value = setting.parse(row.value)
    except SettingValueError as exc:
        problem = f"stored value {row.value!r} is ignored: {exc}; the default applies"
        return SettingValue(setting, plugin, setting.default, "default", row.updated_at, problem)
    return SettingValue(setting, plugin, value, "stored", row.updated_at)


def as_mapping(values: Mapping[str, SettingValue]) -> dict[str, Any]:
    """{key: value} of the values in force (a cache key part)."""
    return {key: item.value for key, item in sorted(values.items())}
