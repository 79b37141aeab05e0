"""``kpi plugins new``: writes a ready plugin package from the templates in ``templates/``.

The package is what docs/plugins.md describes: a pyproject with the entry
point in ``kpi_core.plugins`` and the kpi-core versions it supports, one
module with a starting point for the kind asked for (a KPI, a report format,
a background job or a dashboard widget), tests that pass as written, and a
README. It installs with one command (``pip install -e .``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

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
    },
}


class ScaffoldError(ValueError):
    """The plugin cannot be written; the message says why."""


@dataclass(frozen=True)
class PluginNames:
    """How the one NAME given is spelled where each tool wants it."""

    distribution: str  # acme-callbacks: what pip installs
    module: str  # acme_callbacks: the package, the entry point's name and the key namespace
    title: str  # Acme Callbacks
    kind: str
    core_requires: str  # >=0.1,<0.2: the kpi-core minor series this kpi-core belongs to
    element: str  # acme-callbacks-widget: a custom element tag (has a dash)

    @classmethod
    def of(cls, name: str, kind: str) -> PluginNames:
        if not NAME_PATTERN.match(name):
            raise ScaffoldError(
                f"NAME {name!r} must be lower-case letters and digits, words joined by '-' or '_' (like acme-callbacks)"
            )
        if kind not in KINDS:
            raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)}")
        module = name.replace("-", "_")
        major, minor = (int(part) for part in kpi_core.__version__.split(".")[:2])
        # Semantic versioning: before 1.0 a minor release may break plugins, after it a major one.
        upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
        return cls(
            distribution=name.replace("_", "-"),
            module=module,
            title=" ".join(word.capitalize() for word in re.split(r"[-_]", name)),
            kind=kind,
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
    values = asdict(names)
    for template, output in {**COMMON, **BY_KIND[kind]}.items():
        path = target / output.format(module=names.module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(values), encoding="utf-8")
    return target
