"""Known vulnerabilities in what we ship: the locked Python dependencies (pip-audit against PyPI's
advisory data) and the SPA's production npm dependencies (npm audit, high severity and above).

Both audits ask a service on the internet. Where that service cannot be reached (an offline build
machine, a registry mirror without the advisory endpoint) the test is skipped with the reason;
docs/reliability.md records this exception. A finding always fails. Accepted findings go into
``ACCEPTED`` with the reason, mirrored in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
FRONTEND = ROOT / "frontend"
ACCEPTED: dict[str, str] = {}
"""Vulnerability id -> why it is accepted for now (keep docs/reliability.md in step)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def locked_requirements(tmp_path: Path) -> Path:
    """uv.lock as a pinned, hashed requirements file (third-party packages only: ours are not on PyPI)."""
    uv = UV if UV.exists() else Path(shutil.which("uv") or "uv")
    target = tmp_path / "requirements.txt"
    exported = run(
        [str(uv), "export", "--frozen", "--all-packages", "--all-groups", "--no-emit-workspace", "--no-emit-local",
         "--format", "requirements-txt", "--quiet", "--output-file", str(target)],
        ROOT,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    return target


def test_locked_python_dependencies_have_no_known_vulnerabilities(tmp_path):
    requirements = locked_requirements(tmp_path)
    pinned = sum(1 for line in requirements.read_text().splitlines() if "==" in line and not line.startswith("#"))

    audit = run(
        [str(PIP_AUDIT), "--requirement", str(requirements), "--no-deps", "--disable-pip", "--format", "json",
         "--progress-spinner", "off"],
        ROOT,
    )  # fmt: skip

    report = json.loads(audit.stdout or "{}")
    dependencies = report.get("dependencies", [])
    audited = [dependency for dependency in dependencies if "skip_reason" not in dependency]
    if dependencies and not audited:
        pytest.skip(
            f"pip-audit could not reach PyPI's advisory data for any of the {pinned} locked packages "
            f"(first reason: {dependencies[0]['skip_reason']}); see docs/reliability.md"
        )
    assert audit.returncode in {0, 1}, audit.stderr[-2000:]
    assert len(audited) == pinned, [d["name"] for d in dependencies if "skip_reason" in d]
    found = [
        f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions'])})"
        for dependency in audited
        for vuln in dependency.get("vulns", [])
        if vuln["id"] not in ACCEPTED
    ]
    assert not found, "\n".join(found)


def test_frontend_production_dependencies_have_no_high_severity_vulnerabilities():
    if not (FRONTEND / "package-lock.json").exists():
        pytest.skip("frontend/package-lock.json does not exist yet: nothing locked to audit")
    npm = shutil.which("npm")
    if npm is None:
        if in_ci():
            pytest.fail("CI=true and npm is not installed", pytrace=False)
        pytest.skip("npm is not installed")

    audit = run([npm, "audit", "--omit=dev", "--audit-level=high", "--json"], FRONTEND)

    report = json.loads(audit.stdout or "{}")
    if "error" in report or ("message" in report and "vulnerabilities" not in report):
        pytest.skip(
            f"npm's advisory service cannot be reached: {report.get('message', report)}; see docs/reliability.md"
        )
    high = {
        name: advisory["severity"]
        for name, advisory in report.get("vulnerabilities", {}).items()
        if advisory["severity"] in {"high", "critical"} and name not in ACCEPTED
    }
    assert not high, high
    assert audit.returncode == 0, audit.stdout[-2000:]
