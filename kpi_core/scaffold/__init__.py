"""``kpi plugins new``: writes a ready plugin package from the templates in ``templates/``.

The package is what docs/plugins.md describes: a pyproject with the entry
point in ``kpi_core.plugins`` and the kpi-core versions it supports, one
module with a starting point for the kind asked for (a KPI, a report format,
a background job or a dashboard widget), tests that pass as written, and a
README. Kinds combine (``--kind kpi,job,widget``): each is then a module of
the package (``acme/kpi.py``, ``acme/job.py``, ...) with its own tests
(``tests/test_kpi.py``, ...), and the package's ``__init__`` answers each hook
once with what every module declares. It installs with one command (``pip install -e .``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kpi_core

KINDS: tuple[str, ...] = ("kpi", "report", "job", "widget")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
COMMON = {
    "common/pyproject.toml.j2": "pyproject.toml",
    "common/README.md.j2": "README.md",
    "common/gitignore.j2": ".gitignore",
    "common/tests/conftest.py.j2": "tests/conftest.py",
}
BY_KIND = {
    "kpi": {"kpi/plugin.py.j2": "{module}/__init__.py", "kpi/test_plugin.py.j2": "tests/test_plugin.py"},
    "report": {"report/plugin.py.j2": "{module}/__init__.py", "report/test_plugin.py.j2": "tests/test_plugin.py"},
    "job": {"job/plugin.py.j2": "{module}/__init__.py", "job/test_plugin.py.j2": "tests/test_plugin.py"},
    "widget": {
        "widget/plugin.py.j2": "{module}/__init__.py",
        "widget/widget.js.j2": "{module}/static/widget.js",
        "widget/test_plugin.py.j2": "tests/test_plugin.py",
        "widget/test_widget_in_browser.py.j2": "tests/test_widget_in_browser.py",
    },
}

IMPORTS: dict[str, tuple[str, ...]] = {
    "kpi": ("sqlalchemy",),
    "job": ("sqlalchemy",),
    "widget": ("flask", "sqlalchemy"),
}
"""The distributions each kind's module imports besides kpi-core, declared in its pyproject with the range
kpi-core itself requires: a plugin never leans on what kpi-core happens to install today."""
TEST_IMPORTS: dict[str, tuple[str, ...]] = {"widget": ("playwright",)}
"""What each kind's tests import besides pytest and kpi-core (the browser test of a custom widget)."""
TEST_REQUIREMENTS = {"pytest": "pytest>=8", "playwright": "playwright>=1.48,<2"}


HOOKS = {
    "kpi": {"kpi_metrics": "Metric"},
    "report": {"kpi_report_formats": "ReportFormat"},
    "job": {"kpi_jobs": "JobSpec"},
    "widget": {"kpi_metrics": "Metric", "kpi_widgets": "Widget", "kpi_startup": ""},
}
"""The hooks each kind's module implements, with what their lists hold (kpi_startup returns nothing)."""


class ScaffoldError(ValueError):
    """The plugin cannot be written; the message says why."""


@dataclass(frozen=True)
class PluginNames:
    """How the one NAME given is spelled where each tool wants it."""

    distribution: str  # acme-callbacks: what pip installs
    module: str  # acme_callbacks: the package, the entry point's name and the key namespace
    title: str  # Acme Callbacks
    kind: str  # as given: "kpi" or "kpi,job,widget"
    kinds: tuple[str, ...]
    core_requires: str  # >=0.1,<0.2: the kpi-core minor series this kpi-core belongs to
    element: str  # acme-callbacks-widget: a custom element tag (has a dash)

    @classmethod
    def of(cls, name: str, kind: str) -> PluginNames:
        if not NAME_PATTERN.match(name):
            raise ScaffoldError(
                f"NAME {name!r} must be lower-case letters and digits, words joined by '-' or '_' (like acme-callbacks)"
            )
        kinds = tuple(dict.fromkeys(part.strip() for part in kind.split(",")))
        if not kinds or any(part not in KINDS for part in kinds):
            raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)}, or several joined by ',' (kpi,job)")
        module = name.replace("-", "_")
        major, minor = (int(part) for part in kpi_core.__version__.split(".")[:2])
        # Semantic versioning: before 1.0 a minor release may break plugins, after it a major one.
        upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
        return cls(
            distribution=name.replace("_", "-"),
            module=module,
            title=" ".join(word.capitalize() for word in re.split(r"[-_]", name)),
            kind=",".join(kinds),
            kinds=kinds,
            core_requires=f">={major}.{minor},<{upper}",
            element=f"{name.replace('_', '-')}-widget",
        )


def create_plugin(name: str, kind: str = "kpi", directory: Path = Path()) -> Path:
    """Write the plugin package ``directory/NAME`` for ``kind``; returns its folder.

    Refuses a folder that exists and is not empty, and a module name that is
    already importable (the plugin would shadow it, or be shadowed).
    """
    names = PluginNames.of(name, kind)
    target = directory / names.distribution
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} already exists and is not empty")
    if importlib.util.find_spec(names.module) is not None:
        raise ScaffoldError(f"a module named {names.module!r} is already installed: choose another NAME")
    env = Environment(
        loader=PackageLoader("kpi_core.scaffold", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders Python, TOML and Markdown files, never HTML
    )
    values = {**asdict(names), **_requirements(names.kinds)}
    if len(names.kinds) == 1:
        outputs = {template: (output, names.module) for template, output in BY_KIND[names.kinds[0]].items()}
    else:
        outputs = _combined_outputs(names)
        (target / names.module).mkdir(parents=True)
        (target / names.module / "__init__.py").write_text(_combined_init(names), encoding="utf-8")
    outputs = {**{template: (output, names.module) for template, output in COMMON.items()}, **outputs}
    for template, (output, source) in outputs.items():
        path = target / output.format(module=names.module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(values, source=source), encoding="utf-8")
    return target


def _requirements(kinds: tuple[str, ...]) -> dict[str, list[str]]:
    """The pyproject's ``dependencies`` (besides kpi-core) and ``test`` extra for the kinds written."""
    imported = sorted({name for kind in kinds for name in IMPORTS.get(kind, ())})
    tested = sorted({"pytest", *(name for kind in kinds for name in TEST_IMPORTS.get(kind, ()))})
    return {
        "dependencies": [_core_requirement(name) for name in imported],
        "test_dependencies": [TEST_REQUIREMENTS[name] for name in tested],
    }


def _core_requirement(distribution: str) -> str:
    """kpi-core's own requirement on ``distribution`` (``sqlalchemy<2.2,>=2.0.30``): the range it is tested with."""
    for text in importlib.metadata.requires("kpi-core") or ():
        requirement = Requirement(text)
        if requirement.marker is None and canonicalize_name(requirement.name) == canonicalize_name(distribution):
            # Lower bound first, as people write them: sqlalchemy>=2.0.30,<2.2.
            bounds = sorted(map(str, requirement.specifier), key=lambda bound: not bound.startswith(">"))
            return f"{requirement.name}{','.join(bounds)}"
    raise LookupError(f"kpi-core does not require {distribution}: add it to the scaffold's TEST_REQUIREMENTS")


def _combined_outputs(names: PluginNames) -> dict[str, tuple[str, str]]:
    """Where each kind's templates go when kinds combine, and the module its tests import from."""
    outputs = {}
    for kind in names.kinds:
        source = f"{names.module}.{kind}"
        for template, output in BY_KIND[kind].items():
            output = output.replace("{module}/__init__.py", f"{{module}}/{kind}.py")
            output = output.replace("tests/test_plugin.py", f"tests/test_{kind}.py")
            outputs[template] = (output, source)
    return outputs


def _combined_init(names: PluginNames) -> str:
    """The package's ``__init__`` when kinds combine: each hook once, joining what every kind's module declares."""
    hooks: dict[str, tuple[str, list[str]]] = {}
    for kind in names.kinds:
        for hook, returns in HOOKS[kind].items():
            hooks.setdefault(hook, (returns, []))[1].append(kind)
    declarations = ", ".join(sorted({returns for returns, _ in hooks.values() if returns}))
    modules = ", ".join(f"``{names.module}.{kind}``" for kind in names.kinds)
    lines = [
        f'"""{names.title}: a Handyman KPI plugin that combines {", ".join(names.kinds)}.',
        "",
        f"Each kind is a module of its own ({modules}).",
        "kpi-core registers this package, so each hook is answered here once,",
        'with what every module declares."""',
        "",
        "from __future__ import annotations",
        "",
        *(["from flask import Flask", ""] if "kpi_startup" in hooks else []),
        "from kpi_core import hookimpl",
        f"from kpi_core.declarations import {declarations}",
        "",
        f"from . import {', '.join(sorted(names.kinds))}",
    ]
    for hook, (returns, owners) in hooks.items():
        lines += ["", "", "@hookimpl"]
        if hook == "kpi_startup":
            lines += ["def kpi_startup(app: Flask) -> None:", *(f"    {owner}.kpi_startup(app)" for owner in owners)]
        else:
            joined = ", ".join(f"*{owner}.{hook}()" for owner in owners)
            lines += [f"def {hook}() -> list[{returns}]:", f"    return [{joined}]"]
    return "\n".join(lines) + "\n"
