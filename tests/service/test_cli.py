import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service import __version__
from service.app import create_app
from service.cli import app


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("xbarnas")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"xbarnas {__version__}"


def test_healthz():
    response = TestClient(create_app()).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_keys_create_prints_the_key_alone_on_the_last_line(tmp_path):
    from service.auth import hash_key
    from service.db import Database
    from service.models import ApiKey

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(app, ["keys", "create", "--name", "ci", "--database", url])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("xbn_") and " " not in key
    with Database(url).session() as session:
        stored = session.query(ApiKey).one()
    assert stored.name == "ci" and stored.key_hash == hash_key(key) and key not in stored.key_hash
