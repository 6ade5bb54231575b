"""Settings: defaults, validation, and the CLI's one-line refusal with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callcenter.core.config import ConfigError, describe, load_config

ROOT = Path(__file__).resolve().parent.parent


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], env=clean, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_defaults_fill_sqlite_and_a_persisted_dev_secret(tmp_path: Path) -> None:
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path)}
    config = load_config(env)
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'callcenter.core.db'}"
    assert config["REDIS_URL"] == ""
    assert config["TIMEZONE"] == "Europe/Moscow"
    assert load_config(env)["SECRET_KEY"] == config["SECRET_KEY"] != ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "nonsense", "DATABASE_URL: not a database URL"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: unsupported database 'mysql'"),
        ("CALLCENTER_TIMEZONE", "Mars/Base", "CALLCENTER_TIMEZONE: unknown IANA time zone"),
        ("CALLCENTER_LOCALE", "fr", "CALLCENTER_LOCALE: must be one of ru, en, zh"),
        ("CALLCENTER_MAX_WEBHOOK_BYTES", "-1", "CALLCENTER_MAX_WEBHOOK_BYTES: must be positive"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: not a Redis URL"),
        ("CALLCENTER_TIMEZOEN", "UTC", "CALLCENTER_TIMEZOEN: unknown setting"),
    ],
)
def test_bad_setting_is_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        load_config({"CALLCENTER_INSTANCE_DIR": str(tmp_path), name: value})


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CALLCENTER_SECRET_KEY: required in production"):
        load_config({"CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_ENV": "production"})


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("# clinic\nCALLCENTER_LOCALE=zh\n")
    monkeypatch.chdir(tmp_path)
    assert load_config({"CALLCENTER_INSTANCE_DIR": str(tmp_path)})["LOCALE"] == "zh"


def test_describe_masks_secrets(tmp_path: Path) -> None:
    config = load_config({"CALLCENTER_INSTANCE_DIR": str(tmp_path), "TWILIO_AUTH_TOKEN": "tok123"})
    shown = dict(describe(config))
    assert shown["TWILIO_AUTH_TOKEN"] == "set"
    assert "tok123" not in "".join(shown.values())


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CALLCENTER_TIMEZONE": "Mars/Base"}, "CALLCENTER_TIMEZONE: unknown IANA time zone 'Mars/Base'"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL: not a database URL: 'nonsense'"),
        ({"CALLCENTER_BOGUS": "1"}, "CALLCENTER_BOGUS: unknown setting"),
    ],
)
def test_cli_refuses_bad_config_in_one_line(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path), **env}
    for command in (["check-config"], ["db", "upgrade"], ["serve", "--no-demo"]):
        result = _cli(command, env, tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_cli_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path),
           "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = _cli(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "DATABASE_URL: cannot use the database" in result.stderr


def test_check_config_prints_settings(tmp_path: Path) -> None:
    result = _cli(["check-config"], {"CALLCENTER_INSTANCE_DIR": str(tmp_path)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CALLCENTER_TIMEZONE" in result.stdout and "configuration ok" in result.stdout


@pytest.mark.parametrize("command", [["fhir", "pull"], ["staff", "check"]])
def test_a_database_without_its_tables_is_one_line_naming_the_fix(
        tmp_path: Path, postgres_server: Any, command: list[str]) -> None:
    """An empty database (a new PostgreSQL one, or a SQLite file nobody upgraded) gave
    PostgreSQL's UndefinedTable as a traceback."""
    for url in (postgres_server.create_database(f"empty_{command[0]}"), f"sqlite:///{tmp_path / 'empty.db'}"):
        result = _cli(command, {"CALLCENTER_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": url}, tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert "the database has no tables yet: run `callcenter db upgrade`" in result.stderr
