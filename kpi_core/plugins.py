"""Discovers, validates and registers plugins: built-ins and entry points alike.

A plugin is loaded whole or not at all: if its distribution requires a
kpi-core version other than this one, fails to import, returns a malformed
declaration or migration branch, raises in a hook, or declares a key another
plugin already has, it is unregistered and reported by name and reason, and
the rest start. ``KPI_STRICT_PLUGINS`` turns any such problem into a start-up failure.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

import kpi_core
from kpi_core import hookspecs
from kpi_core.config import Settings
from kpi_core.declarations import DECLARATION_TYPES
from kpi_core.errors import PluginLoadError

ENTRY_POINT_GROUP = "kpi_core.plugins"
BUNDLED = frozenset(
    {
        "kpi_quality",
        "kpi_timeliness",
        "kpi_productivity",
        "reports_pdf",
        "reports_csv",
        "import_presets",
        "notify_email",
        "notify_webhook",
    }
)
"""Plugins shipped in this repository's workspace: loaded before any third-party plugin."""
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (("core", "kpi_core.builtin"), ("notify", "kpi_core.notify.plugin"))
"""(name, module) of the host's own features, registered through the same hooks."""

log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """A loaded plugin as listed by ``kpi plugins`` and ``GET /api/v1/plugins``."""

    name: str
    version: str
    module: str
    builtin: bool
    contributes: dict[str, list[str]] = field(default_factory=dict)
    requires: str = ""
    """The kpi-core versions the plugin's distribution supports (``Requires-Dist``), "" where it names none."""


@dataclass(frozen=True)
class PluginProblem:
    """Why a plugin (or a plugin setting) was not loaded."""

    name: str
    stage: str  # config | compatibility | import | register | declaration | migrations | routes | duplicate | startup
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass
class Candidate:
    name: str
    version: str
    load: Any  # callable returning the plugin object
    builtin: bool = False
    conflict: str | None = None  # found at discovery: why this candidate must not load
    requirements: tuple[str, ...] = ()  # its distribution's Requires-Dist lines


class PluginHost:
    """The PluginManager plus everything the loaded plugins declared."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.problems: list[PluginProblem] = []
        self.declarations: dict[str, dict[str, Any]] = {hook: {} for hook in DECLARATION_TYPES}
        self.owners: dict[tuple[str, str], str] = {}
        self.migrations: dict[str, Path] = {}
        self.routes: dict[str, list[Any]] = {}
        """Each plugin's checked flask-smorest blueprints (``kpi_routes``), registered by the app."""

    @property
    def metrics(self) -> dict[str, Any]:
        return self.declarations["kpi_metrics"]

    @property
    def form_fields(self) -> dict[str, Any]:
        return self.declarations["kpi_form_fields"]

    @property
    def report_formats(self) -> dict[str, Any]:
        return self.declarations["kpi_report_formats"]

    @property
    def jobs(self) -> dict[str, Any]:
        return self.declarations["kpi_jobs"]

    @property
    def widgets(self) -> dict[str, Any]:
        return self.declarations["kpi_widgets"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.declarations["kpi_settings"]

    @property
    def import_presets(self) -> dict[str, Any]:
        return self.declarations["kpi_import_presets"]

    @property
    def job_fields(self) -> dict[str, Any]:
        return self.declarations["kpi_job_fields"]

    @property
    def notification_channels(self) -> dict[str, Any]:
        """The declared notification channels by key (``kpi_notification_channels``)."""
        return self.declarations["kpi_notification_channels"]

    @property
    def alert_rules(self) -> dict[str, Any]:
        """The declared default alert rules by key (``kpi_alert_rules``)."""
        return self.declarations["kpi_alert_rules"]

    @property
    def permissions(self) -> dict[str, Any]:
        """The permissions plugins declare by key (``kpi_permissions``); the core's are in accounts/permissions.py."""
        return self.declarations["kpi_permissions"]

    @property
    def migration_locations(self) -> list[Path]:
        """The directories of the loaded plugins' Alembic branches (see ``kpi_migrations``)."""
        return list(self.migrations.values())

    def owner_of(self, hook: str, key: str) -> str:
        """The name of the plugin that declared ``key`` through ``hook``."""
        return self.owners[(hook, key)]

    def report(self, problem: PluginProblem) -> None:
        self.problems.append(problem)
        log.error("plugin %s not loaded (%s): %s", problem.name, problem.stage, problem.reason)

    def add(self, candidate: Candidate) -> None:
        """Import, register and validate one plugin; on any problem leave no trace of it."""
        if candidate.conflict:
            self.report(PluginProblem(candidate.name, "duplicate", candidate.conflict))
            return
        # Checked before importing: an incompatible plugin may not even import against this kpi-core.
        requires, incompatible = kpi_core_requirement(candidate.requirements)
        if incompatible:
            self.report(PluginProblem(candidate.name, "compatibility", incompatible))
            return
        try:
            plugin = candidate.load()
        except Exception as exc:
            self.report(PluginProblem(candidate.name, "import", _describe(exc)))
            return
        try:
            self.pm.register(plugin, name=candidate.name)
            # A misspelled hook name (kpi_metric) would otherwise be ignored silently.
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self.report(PluginProblem(candidate.name, "register", _describe(exc)))
            return
        try:
            declared = self._collect(candidate.name)
            migrations = self._migrations(candidate.name)
            routes = self._routes(candidate.name, declared.get("kpi_permissions", {}))
        except _Rejected as rejected:
            self.pm.unregister(name=candidate.name)
            self.report(rejected.problem)
            return
        info = PluginInfo(
            name=candidate.name,
            version=candidate.version,
            module=getattr(plugin, "__name__", type(plugin).__name__),
            builtin=candidate.builtin,
            requires=requires,
        )
        for hook, items in declared.items():
            for key, item in items.items():
                self.declarations[hook][key] = item
                self.owners[(hook, key)] = candidate.name
            if items:
                info.contributes[hook] = list(items)
        if migrations is not None:
            self.migrations[candidate.name] = migrations[0]
            info.contributes["kpi_migrations"] = migrations[1]
        if routes is not None:
            self.routes[candidate.name] = routes[0]
            info.contributes["kpi_routes"] = routes[1]
        self.plugins[candidate.name] = info

    def _routes(self, name: str, own_permissions: dict[str, Any]) -> tuple[list[Any], list[str]] | None:
        """The plugin's blueprints and their operations, if it declares valid ``kpi_routes``."""
        from kpi_core.accounts.grants import CORE_NAMESPACES

        for key in own_permissions:
            if key.split(".", 1)[0] in CORE_NAMESPACES:
                reason = f"kpi_permissions() key {key!r} is in the core's namespace {key.split('.', 1)[0]!r}"
                raise _Rejected(PluginProblem(name, "declaration", reason))
        for impl in self.pm.hook.kpi_routes.get_hookimpls():
            if impl.plugin_name != name:
                continue
            # Flask is imported only where a plugin has routes (jobs need not load it).
            from kpi_core.web.plugin_routes import RouteError, check

            try:
                found = impl.function()
            except Exception as exc:
                raise _Rejected(PluginProblem(name, "routes", f"kpi_routes() raised {_describe(exc)}")) from exc
            try:
                operations = check(name, found, [*self.permissions, *own_permissions])
            except RouteError as exc:
                raise _Rejected(PluginProblem(name, "routes", str(exc))) from None
            return list(found), operations
        return None

    def _migrations(self, name: str) -> tuple[Path, list[str]] | None:
        """The plugin's migration directory and its revisions, if it declares a valid branch."""
        for impl in self.pm.hook.kpi_migrations.get_hookimpls():
            if impl.plugin_name != name:
                continue
            try:
                found = impl.function()
            except Exception as exc:
                raise _Rejected(PluginProblem(name, "migrations", f"kpi_migrations() raised {_describe(exc)}")) from exc
            if found is None:
                return None
            if not isinstance(found, str | Path):
                kind = type(found).__name__
                raise _Rejected(PluginProblem(name, "migrations", f"kpi_migrations() must return a path, got {kind}"))
            # Alembic is imported only where a plugin has migrations (jobs need not load it).
            from kpi_core.storage.migrate import BranchError, plugin_branch

            location = Path(found).resolve()
            try:
                revisions = plugin_branch(name, location)
            except BranchError as exc:
                raise _Rejected(PluginProblem(name, "migrations", str(exc))) from None
            for other, info in self.plugins.items():
                taken = set(revisions) & set(info.contributes.get("kpi_migrations", ()))
                if taken:
                    reason = f"revision {', '.join(sorted(taken))} is already a migration of plugin {other!r}"
                    raise _Rejected(PluginProblem(name, "duplicate", reason))
            return location, revisions
        return None

    def _collect(self, name: str) -> dict[str, dict[str, Any]]:
        declared: dict[str, dict[str, Any]] = {}
        for hook, expected in DECLARATION_TYPES.items():
            items: dict[str, Any] = {}
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin_name != name:
                    continue
                try:
                    result = impl.function()
                except Exception as exc:
                    raise _Rejected(PluginProblem(name, "declaration", f"{hook}() raised {_describe(exc)}")) from exc
                if not isinstance(result, list | tuple):
                    raise _Rejected(
                        PluginProblem(
                            name,
                            "declaration",
                            f"{hook}() must return a list, got {type(result).__name__}",
                        )
                    )
                for item in result:
                    if not isinstance(item, expected):
                        raise _Rejected(
                            PluginProblem(
                                name,
                                "declaration",
                                f"{hook}() returned {type(item).__name__}, expected {expected.__name__}",
                            )
                        )
                    if item.key in items:
                        raise _Rejected(PluginProblem(name, "duplicate", f"{hook}() declares {item.key!r} twice"))
                    if item.key in self.declarations[hook]:
                        other = self.owners[(hook, item.key)]
                        raise _Rejected(
                            PluginProblem(
                                name,
                                "duplicate",
                                f"{hook}() key {item.key!r} is already declared by plugin {other!r}",
                            )
                        )
                    items[item.key] = item
            declared[hook] = items
        return declared

    def start(self, app: Any) -> None:
        """Run every plugin's ``kpi_startup(app)``; a failure is reported, not raised."""
        for impl in self.pm.hook.kpi_startup.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:
                self._remove(impl.plugin_name)
                self.report(PluginProblem(impl.plugin_name, "startup", f"kpi_startup raised {_describe(exc)}"))

    def _remove(self, name: str) -> None:
        """Take back everything a loaded plugin declared, so a failed plugin is not half there."""
        self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self.migrations.pop(name, None)
        self.routes.pop(name, None)
        for (hook, key), owner in list(self.owners.items()):
            if owner == name:
                del self.owners[(hook, key)]
                del self.declarations[hook][key]

    def raise_if_strict(self, settings: Settings) -> None:
        if settings.strict_plugins and self.problems:
            listed = "; ".join(str(problem) for problem in self.problems)
            raise PluginLoadError(f"KPI_STRICT_PLUGINS is on and plugins failed to load: {listed}")


class _Rejected(Exception):
    def __init__(self, problem: PluginProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def kpi_core_requirement(requirements: Iterable[str]) -> tuple[str, str | None]:
    """(the kpi-core specifier the requirements name, why this kpi-core does not satisfy it or None).

    ``requirements`` are a distribution's ``Requires-Dist`` lines; only those
    naming kpi-core (and whose environment marker holds) count. Without one,
    the plugin is taken to support any version.
    """
    specifiers = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # the installer accepted it; not ours to judge
        if canonicalize_name(requirement.name) != "kpi-core":
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        specifiers.append(str(requirement.specifier))
    shown = ",".join(filter(None, specifiers))
    wanted = SpecifierSet(shown)
    try:
        running = Version(kpi_core.__version__)
    except InvalidVersion:
        return shown, None
    if wanted.contains(running, prereleases=True):
        return shown, None
    return shown, f"requires kpi-core{shown} but this is kpi-core {kpi_core.__version__}"


def _entry_point_candidates() -> list[Candidate]:
    found: dict[str, Candidate] = {}
    found_in: dict[str, str] = {}
    conflicts: list[Candidate] = []
    # Plugins shipped with kpi-core load first, so a third-party plugin cannot take their keys.
    ordered = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name not in BUNDLED, ep.name))
    for entry_point in ordered:
        version = entry_point.dist.version if entry_point.dist is not None else "unknown"
        requirements = tuple(entry_point.dist.requires or ()) if entry_point.dist is not None else ()
        # Two distributions may register one name; the first wins and the other is reported.
        if entry_point.name in found:
            conflicts.append(
                Candidate(
                    entry_point.name,
                    version,
                    entry_point.load,
                    conflict=f"{_distribution(entry_point)} registers the plugin name {entry_point.name!r}, "
                    f"which {found_in[entry_point.name]} already registers",
                )
            )
            continue
        found[entry_point.name] = Candidate(entry_point.name, version, entry_point.load, requirements=requirements)
        found_in[entry_point.name] = _distribution(entry_point)
    return list(found.values()) + conflicts


def _distribution(entry_point: metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return f"distribution {dist.name} {dist.version}" if dist is not None else "a distribution"


def _builtin_candidates() -> list[Candidate]:
    return [
        Candidate(
            name,
            kpi_core.__version__,
            lambda module=module: importlib.import_module(module),
            builtin=True,
        )
        for name, module in BUILTIN_PLUGINS
    ]


def load_plugins(settings: Settings, extra: Sequence[tuple[str, Any]] = ()) -> PluginHost:
    """Build the plugin host: built-ins, then entry points by name, then ``extra``.

    ``extra`` is (name, plugin object) pairs registered as if found through an
    entry point; tests use it to add small inline plugins.
    """
    host = PluginHost()
    candidates = _builtin_candidates() + _entry_point_candidates()
    candidates += [Candidate(name, "0", lambda obj=obj: obj) for name, obj in extra]
    known = {candidate.name: candidate for candidate in candidates}
    for name in settings.disabled_plugins:
        if name not in known:
            host.report(PluginProblem(name, "config", f"KPI_DISABLED_PLUGINS names {name!r}, which is not installed"))
        elif known[name].builtin:
            host.report(PluginProblem(name, "config", f"{name!r} is built into kpi-core and cannot be disabled"))
    for candidate in _enabled(candidates, settings.disabled_plugins):
        host.add(candidate)
    host.raise_if_strict(settings)
    return host


@functools.cache
def installed_migration_locations() -> list[Path]:
    """The migration directories of every installed plugin that declares a valid branch (cached per process).

    What ``upgrade(engine)`` and ``schema_state(engine)`` use when no plugin
    host hands them its own; problems are reported when plugins are loaded.
    """
    host = PluginHost()
    host.report = lambda problem: None  # type: ignore[method-assign]  # load_plugins reports them
    for candidate in _builtin_candidates() + _entry_point_candidates():
        host.add(candidate)
    return host.migration_locations


def disabled_revisions(disabled: Sequence[str]) -> dict[str, str]:
    """The migration revisions of the installed plugins named in ``disabled``, each with its plugin's name."""
    if not disabled:
        return {}
    host = PluginHost()
    host.report = lambda problem: None  # type: ignore[method-assign]  # load_plugins reports them
    for candidate in _entry_point_candidates():
        if candidate.name in disabled:
            host.add(candidate)
    return {
        revision: name for name, info in host.plugins.items() for revision in info.contributes.get("kpi_migrations", ())
    }


def _enabled(candidates: Iterable[Candidate], disabled: Sequence[str]) -> list[Candidate]:
    return [candidate for candidate in candidates if candidate.builtin or candidate.name not in disabled]
