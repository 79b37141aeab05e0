"""Settings: read once from KPI_* variables, typed, validated, and documented in docs/configuration.md."""

from __future__ import annotations

import stat
from dataclasses import fields
from pathlib import Path

import pytest

from kpi_core.config import SECRET_FILE_NAME, Settings, documented_settings, env_name
from kpi_core.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
SECRET = "s" * 48


def settings_from(environ: dict[str, str], tmp_path: Path | None = None) -> Settings:
    if tmp_path is not None:
        environ = {"KPI_DATA_DIR": str(tmp_path / "data"), **environ}
    return Settings.from_env(environ)


def test_defaults_apply_when_no_variable_is_set():
    settings = Settings.from_env({})

    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.timezone == "UTC"
    assert settings.demo is False
    assert settings.strict_plugins is False
    assert settings.disabled_plugins == ()
    assert settings.data_dir == Path("var")


def test_variables_are_read_with_their_types(tmp_path):
    settings = Settings.from_env(
        {
            "KPI_DATA_DIR": str(tmp_path),
            "KPI_PORT": "9001",
            "KPI_DEMO": "yes",
            "KPI_STRICT_PLUGINS": "0",
            "KPI_TIMEZONE": "Europe/Berlin",
            "KPI_MAX_CONTENT_LENGTH": "1048576",
            "KPI_MIN_SAMPLE": "25",
            "KPI_SECRET_KEY": SECRET,
        }
    )

    assert settings.data_dir == tmp_path
    assert settings.port == 9001
    assert settings.demo is True
    assert settings.strict_plugins is False
    assert settings.zone.key == "Europe/Berlin"
    assert settings.max_content_length == 1048576
    assert settings.min_sample == 25
    assert settings.secret_key == SECRET


def test_variables_without_the_kpi_prefix_are_ignored():
    assert Settings.from_env({"PORT": "9001", "kpi_port": "9002"}).port == 8000


def test_overrides_win_over_the_environment():
    assert Settings.from_env({"KPI_PORT": "9001"}, port=9002).port == 9002


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_true_spellings_read_as_true(raw):
    assert Settings.from_env({"KPI_STRICT_PLUGINS": raw}).strict_plugins is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_false_spellings_read_as_false(raw):
    assert Settings.from_env({"KPI_STRICT_PLUGINS": raw}).strict_plugins is False


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("KPI_PORT", "abc"),
        ("KPI_PORT", "70000"),
        ("KPI_PORT", "0"),
        ("KPI_TIMEZONE", "Nowhere/Land"),
        ("KPI_TIMEZONE", "../../etc/passwd"),
        ("KPI_STRICT_PLUGINS", "maybe"),
        ("KPI_DEMO", "2"),
        ("KPI_LOG_LEVEL", "LOUD"),
        ("KPI_MAX_CONTENT_LENGTH", "-1"),
        ("KPI_MAX_CONTENT_LENGTH", "20MB"),
        ("KPI_MIN_SAMPLE", "0"),
        ("KPI_SECRET_KEY", "too-short"),
        ("KPI_ACCESS_TOKEN_MINUTES", "60"),
        ("KPI_LOGIN_ATTEMPTS", "0"),
    ],
)
def test_an_invalid_value_raises_config_error_naming_the_variable(variable, raw):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: raw})


def test_an_invalid_value_is_quoted_in_the_error():
    with pytest.raises(ConfigError, match="'abc'"):
        Settings.from_env({"KPI_PORT": "abc"})


def test_disabled_plugins_are_a_comma_separated_list():
    settings = Settings.from_env({"KPI_DISABLED_PLUGINS": " kpi_quality, reports_pdf ,,reports_csv, "})

    assert settings.disabled_plugins == ("kpi_quality", "reports_pdf", "reports_csv")


def test_an_empty_disabled_plugins_list_disables_nothing():
    assert Settings.from_env({"KPI_DISABLED_PLUGINS": " , "}).disabled_plugins == ()


def test_the_database_defaults_to_a_sqlite_file_in_the_data_directory(tmp_path):
    settings = settings_from({}, tmp_path)

    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'data' / 'kpi.sqlite3').resolve()}"


def test_a_configured_database_url_is_used_as_given(tmp_path):
    url = "postgresql+psycopg://kpi@db.example/kpi"

    assert settings_from({"KPI_DATABASE_URL": url}, tmp_path).effective_database_url == url


def test_outside_demo_mode_a_missing_secret_raises_config_error_naming_it(tmp_path):
    settings = settings_from({}, tmp_path)

    with pytest.raises(ConfigError, match="KPI_SECRET_KEY"):
        settings.resolved_secret_key()


def test_outside_demo_mode_no_secret_file_is_written(tmp_path):
    with pytest.raises(ConfigError):
        settings_from({}, tmp_path).resolved_secret_key()

    assert not (tmp_path / "data" / SECRET_FILE_NAME).exists()


def test_a_configured_secret_is_used_as_given(tmp_path):
    assert settings_from({"KPI_SECRET_KEY": SECRET}, tmp_path).resolved_secret_key() == SECRET


def test_a_configured_secret_wins_in_demo_mode_and_nothing_is_written(tmp_path):
    settings = settings_from({"KPI_DEMO": "1", "KPI_SECRET_KEY": SECRET}, tmp_path)

    assert settings.resolved_secret_key() == SECRET
    assert not (tmp_path / "data" / SECRET_FILE_NAME).exists()


def test_demo_mode_generates_a_long_random_secret(tmp_path):
    first = settings_from({"KPI_DEMO": "1"}, tmp_path).resolved_secret_key()
    other = settings_from({"KPI_DEMO": "1"}, tmp_path / "elsewhere").resolved_secret_key()

    assert len(first) >= 32
    assert first != other


def test_demo_mode_keeps_its_secret_in_the_data_directory_readable_by_the_owner_only(tmp_path):
    secret = settings_from({"KPI_DEMO": "1"}, tmp_path).resolved_secret_key()

    path = tmp_path / "data" / SECRET_FILE_NAME
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_demo_mode_returns_the_same_secret_next_time(tmp_path):
    first = settings_from({"KPI_DEMO": "1"}, tmp_path).resolved_secret_key()
    second = settings_from({"KPI_DEMO": "1"}, tmp_path).resolved_secret_key()

    assert second == first


# docs/configuration.md


def render_row(variable: str, default: str, description: str) -> str:
    shown = f"`{default}`" if default else "*(empty)*"
    return f"| `{variable}` | {shown} | {description} |"


def render_table() -> str:
    """The settings table of docs/configuration.md, generated from the code."""
    lines = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    lines += [render_row(*row) for row in documented_settings()]
    return "\n".join(lines)


def test_every_setting_is_documented_with_a_type_default_and_description():
    for spec in fields(Settings):
        assert spec.metadata.get("doc"), f"{spec.name} has no description"
        assert callable(spec.metadata.get("parse")), f"{spec.name} has no parser"


def test_every_environment_variable_appears_in_the_configuration_doc():
    doc = DOC.read_text()
    missing = [env_name(spec.name) for spec in fields(Settings) if f"`{env_name(spec.name)}`" not in doc]

    assert missing == [], f"add these to {DOC.name}: {missing}"


def test_configuration_doc_table_matches_the_code():
    expected = render_table()

    assert expected in DOC.read_text(), f"replace the settings table in {DOC.name} with:\n\n{expected}\n"
