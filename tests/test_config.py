"""Configuration: the refusal of the default secret key, instance overrides, env overrides."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evalsys import create_app
from evalsys.config import DEFAULT_SECRET_KEY, InsecureSecretKey, env_overrides


def _config(tmp_path, **extra):
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        "INSTANCE_PATH": str(tmp_path),
        **extra,
    }


def test_refuses_default_secret_in_production(tmp_path):
    with pytest.raises(InsecureSecretKey) as err:
        create_app(_config(tmp_path, SECRET_KEY=DEFAULT_SECRET_KEY))
    message = str(err.value)
    assert "SECRET_KEY" in message and "\n" not in message


@pytest.mark.parametrize("flag", ["TESTING", "DEBUG"])
def test_default_secret_allowed_when_testing_or_debugging(tmp_path, flag):
    app = create_app(_config(tmp_path, SECRET_KEY=DEFAULT_SECRET_KEY, **{flag: True}))
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY


def test_cli_refusal_is_one_line(tmp_path):
    """`evalsys run` without a key stops with one clear line, not a traceback."""
    env = {
        "PATH": "/usr/bin:/bin",
        "EVALSYS_INSTANCE_PATH": str(tmp_path),
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "evalsys", "run", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "refusing to start" in lines[0] and "SECRET_KEY" in lines[0]


def test_instance_config_and_env_override(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("SECRET_KEY = 'from-instance'\nMIN_N = 4\n")
    monkeypatch.setenv("EVALSYS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("EVALSYS_MIN_N", "5")
    monkeypatch.delenv("EVALSYS_DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-instance"
    assert app.config["MIN_N"] == 5  # the environment wins, parsed as a number
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/evalsys.sqlite3"


def test_env_overrides_keep_secrets_as_text():
    out = env_overrides(
        {
            "EVALSYS_SECRET_KEY": "12345",
            "EVALSYS_SESSION_COOKIE_SECURE": "true",
            "EVALSYS_TEST_DATABASE_URL": "ignored",
            "OTHER": "x",
        }
    )
    assert out == {"SECRET_KEY": "12345", "SESSION_COOKIE_SECURE": True}
