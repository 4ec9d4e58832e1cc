"""The Kaggle key and token never appear in anything kagglekit writes or prints, verbose and failing runs included.

fetch, train, submit and submissions run through the CLI in subprocesses against the fake Kaggle server with the
kaggle client's own verbose mode on (VERBOSE=1, which prints each request); then every file under the working
folder, the home folder and the temporary folder, and everything printed, is searched for the secrets.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from tests.fake_kaggle import KEY, TOKEN, USERNAME, FakeKaggle, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from kagglekit.data import FILES, META_FILE

COMPETITION = "tiny"
SECRETS = {
    "key": KEY.encode(),
    "token": TOKEN.encode(),
    "basic auth header": base64.b64encode(f"{USERNAME}:{KEY}".encode()),
}


class Cli:
    """Runs `python -m kagglekit` in ``work`` and keeps everything it printed."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env, self.printed = work, env, []

    def __call__(self, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "kagglekit", args[0], *_verbose(args[0]), *args[1:]]
        result = subprocess.run(command, cwd=self.work, env={**self.env, **env}, capture_output=True, text=True, timeout=300, check=False)
        self.printed.append(f"$ {' '.join(args)}\n{result.stdout}{result.stderr}")
        assert (result.returncode == 0) is ok, self.printed[-1]
        return result


def _verbose(command: str) -> list[str]:
    """-v where the command has it (train today; fetch and submit may gain it)."""
    from kagglekit.cli import app

    options = {o for p in typer.main.get_command(app).commands[command].params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
    return ["-v"] if "-v" in options else []


@pytest.fixture
def cli(fake_kaggle: FakeKaggle, kaggle_env: Path, tiny_competition: Path, tmp_path: Path) -> Cli:
    fake_kaggle.add_competition(COMPETITION, zip_bytes({name: (tiny_competition / name).read_text() for name in FILES}),
                                pending_reads=0)
    work, temp = tmp_path / "work", tmp_path / "temp"
    work.mkdir()
    temp.mkdir()
    env = {**os.environ, "VERBOSE": "1", "TMPDIR": str(temp), "KAGGLEKIT_HTTP_TIMEOUT": "5"}
    return Cli(work, env)


def files_holding_secrets(*folders: Path, allowed: set[Path]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in allowed):
            content = path.read_bytes()
            found += [f"{path}: {name}" for name, secret in SECRETS.items() if secret in content]
    return found


def test_no_secret_in_files_or_output_of_fetch_train_submit(cli: Cli, fake_kaggle: FakeKaggle, kaggle_env: Path, tmp_path: Path) -> None:
    cli("fetch", COMPETITION)
    meta = json.loads((cli.work / "data" / COMPETITION / META_FILE).read_text())
    assert meta["credentials_from"] == "API key in $KAGGLE_KEY"
    cli("train", COMPETITION, "-m", "baseline", "--folds", "2")
    submission = f"submissions/{COMPETITION}/baseline.csv"
    assert "public score" in cli("submit", submission, "--wait").stdout
    assert "baseline.csv" in cli("submissions", COMPETITION).stdout

    # An API token, and credentials that expire halfway: errors must not quote them either.
    token_env = {"KAGGLE_USERNAME": "", "KAGGLE_KEY": "", "KAGGLE_API_TOKEN": TOKEN}
    cli("fetch", COMPETITION, "--force", **token_env)
    meta = json.loads((cli.work / "data" / COMPETITION / META_FILE).read_text())
    assert meta["credentials_from"] == "access token in $KAGGLE_API_TOKEN"
    fake_kaggle.calls_before_expiry = 0  # from now on: 401
    failed = cli("fetch", COMPETITION, "--force", ok=False, **token_env)
    assert "rejected your credentials (401" in failed.stderr
    assert "rejected your credentials (401" in cli("submit", submission, ok=False).stderr
    failed = cli("fetch", COMPETITION, "--force", ok=False, KAGGLE_API_TOKEN="kgk-not-a-valid-token")
    assert "error:" in failed.stderr

    # A token in ~/.kaggle/access_token is named by its path.
    fake_kaggle.calls_before_expiry = None
    token_file = kaggle_env / ".kaggle" / "access_token"
    token_file.parent.mkdir(exist_ok=True)
    token_file.write_text(TOKEN)
    cli("fetch", COMPETITION, "--force", KAGGLE_USERNAME="", KAGGLE_KEY="")
    meta = json.loads((cli.work / "data" / COMPETITION / META_FILE).read_text())
    assert meta["credentials_from"] == f"access token in the file {token_file}"

    printed = "\n".join(cli.printed)
    assert "GET " in printed or "POST " in printed or "DEBUG" in printed  # the client's verbose mode was on
    leaks = [f"output: {name}" for name, secret in SECRETS.items() if secret.decode() in printed]
    leaks += files_holding_secrets(cli.work, kaggle_env, tmp_path / "temp", allowed={token_file})
    assert leaks == []
