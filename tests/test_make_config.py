"""`evalsys make-config` writes the config where the app reads it, once, private to its owner."""

from __future__ import annotations

import os
import stat
import subprocess
import sys


def run_cli(*args: str, instance) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALSYS_")}
    env["EVALSYS_INSTANCE_PATH"] = str(instance)
    env["EVALSYS_DATABASE_URL"] = f"sqlite:///{instance}/evalsys.sqlite3"
    return subprocess.run(
        [sys.executable, "-m", "evalsys.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_config_honours_the_instance_path_and_the_app_then_starts(tmp_path):
    instance = tmp_path / "elsewhere"
    made = run_cli("make-config", instance=instance)
    assert made.returncode == 0, made.stderr
    config = instance / "config.py"
    assert config.exists(), made.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    first = config.read_text()
    assert "SECRET_KEY = '" in first

    again = run_cli("make-config", instance=instance)
    assert again.returncode == 0 and "left as it is" in again.stdout
    assert config.read_text() == first  # the key is never replaced behind the admin's back

    # With that config the app starts: init-db does not refuse the secret key.
    init = run_cli("init-db", instance=instance)
    assert init.returncode == 0, init.stderr
    assert (instance / "evalsys.sqlite3").exists()


def test_two_instances_get_different_keys(tmp_path):
    for name in ("a", "b"):
        assert run_cli("make-config", instance=tmp_path / name).returncode == 0
    assert (tmp_path / "a" / "config.py").read_text() != (tmp_path / "b" / "config.py").read_text()
