"""A user's dashboard: the widget catalogue from every plugin, and the user's layout of it.

The layout is an ordered list of ``{"widget": key, "size": size}`` items kept
per user in ``dashboard_layouts``. A user who never saved one gets the default
(every installed widget, KPI cards first). Widgets whose plugin is no longer
installed are left out when a saved layout is read, so uninstalling a plugin
never breaks anyone's dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kpi_core.declarations import WIDGET_SIZES, Widget
from kpi_core.errors import Invalid
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import DashboardLayout

MAX_ITEMS = 50
# Small cards first: a default dashboard opens with the headline numbers on top.
_TYPE_ORDER = {"kpi_card": 0, "custom": 1, "leaderboard": 2, "trend": 3, "table": 4, "heatmap": 5}


@dataclass(frozen=True)
class Dashboard:
    """What ``GET /api/v1/dashboard`` answers."""

    widgets: list[dict[str, Any]]
    layout: list[dict[str, str]]
    customized: bool


def widget_catalogue(plugins: PluginHost) -> list[dict[str, Any]]:
    """Every widget the loaded plugins declare, as plain data with the declaring plugin's name."""
    return [_widget_spec(plugins, widget) for widget in plugins.widgets.values()]


def _widget_spec(plugins: PluginHost, widget: Widget) -> dict[str, Any]:
    return {
        "key": widget.key,
        "title": widget.title,
        "type": widget.type,
        "metrics": list(widget.metrics),
        "size": widget.size,
        "module_url": widget.module_url,
        "element": widget.element,
        "options": dict(widget.options),
        "plugin": plugins.owner_of("kpi_widgets", widget.key),
    }


def default_layout(plugins: PluginHost) -> list[dict[str, str]]:
    """Every installed widget at its declared size, KPI cards first, otherwise in plugin order."""
    widgets = sorted(plugins.widgets.values(), key=lambda widget: _TYPE_ORDER.get(widget.type, 9))
    return [{"widget": widget.key, "size": widget.size} for widget in widgets]


def get_dashboard(session: Session, plugins: PluginHost, user_id: int) -> Dashboard:
    """The catalogue and the user's layout (their saved one, or the default)."""
    stored = session.get(DashboardLayout, user_id)
    if stored is None:
        layout, customized = default_layout(plugins), False
    else:
        layout = [_item(item) for item in stored.widgets if _item(item)["widget"] in plugins.widgets]
        customized = True
    return Dashboard(widget_catalogue(plugins), layout, customized)


def _item(item: Any) -> dict[str, str]:
    return {"widget": str(item.get("widget")), "size": str(item.get("size"))}


def validate_layout(plugins: PluginHost, items: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The layout as stored, or :class:`Invalid` naming the first bad item (``layout[2].widget``)."""
    if len(items) > MAX_ITEMS:
        raise Invalid("layout", f"at most {MAX_ITEMS} widgets")
    seen: set[str] = set()
    layout = []
    for index, item in enumerate(items):
        key = item["widget"]
        widget = plugins.widgets.get(key)
        if widget is None:
            raise Invalid(f"layout[{index}].widget", f"no installed plugin declares a widget {key!r}")
        if key in seen:
            raise Invalid(f"layout[{index}].widget", f"widget {key!r} is already in the layout")
        seen.add(key)
        size = item.get("size") or widget.size
        if size not in WIDGET_SIZES:
            raise Invalid(f"layout[{index}].size", f"must be one of {', '.join(WIDGET_SIZES)}")
        layout.append({"widget": key, "size": size})
    return layout


def save_layout(session: Session, plugins: PluginHost, user_id: int, items: Sequence[dict[str, Any]]) -> Dashboard:
    """Validate and store the user's layout (replacing any earlier one); nothing is stored if invalid."""
    layout = validate_layout(plugins, items)
    stored = session.get(DashboardLayout, user_id)
    if stored is None:
        session.add(DashboardLayout(user_id=user_id, widgets=layout))
    else:
        stored.widgets = layout
    session.flush()
    return Dashboard(widget_catalogue(plugins), layout, True)


def reset_layout(session: Session, plugins: PluginHost, user_id: int) -> Dashboard:
    """Forget the user's layout: the default applies again."""
    stored = session.get(DashboardLayout, user_id)
    if stored is not None:
        session.delete(stored)
        session.flush()
    return Dashboard(widget_catalogue(plugins), default_layout(plugins), False)
