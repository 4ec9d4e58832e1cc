"""fetch, submit and submissions through the real kaggle client against the fake Kaggle server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fake_kaggle import DAILY_LIMIT_MESSAGE, KEY, PORT, TOKEN, USERNAME, FakeKaggle, fake_kaggle, kaggle_env, no_server, zip_bytes  # noqa: F401
from kagglekit import config
from kagglekit.kaggle import client, competitions
from kagglekit.cli import app
from kagglekit.data import FILES, META_FILE, infer_metric
from kagglekit.shapes import Binary
from kagglekit.errors import DataError, KaggleApiError

COMP = "nlp-getting-started"
CSVS = {
    "train.csv": (
        "id,keyword,location,text,target\n"
        "1,,,Our Deeds are the Reason of this #earthquake,1\n"
        "4,,,Forest fire near La Ronge Sask. Canada,1\n"
        "5,ablaze,London,What a goooooooaaaaaal!!!!!!,0\n"
        "6,,,I love fruits,0\n"
    ),
    "test.csv": "id,keyword,location,text\n0,,,Just happened a terrible car crash\n2,,,Heard about #earthquake\n3,,,Apocalypse lighting\n",
    "sample_submission.csv": "id,target\n0,0\n2,0\n3,0\n",
}
SUBMISSION = "id,target\n0,1\n2,1\n3,0\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kaggle_env: Path) -> Path:
    """A fresh working directory with test credentials for the fake server."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def kaggle(fake_kaggle: FakeKaggle, workdir: Path) -> FakeKaggle:
    """The fake server with the competition whose files and submissions behave normally."""
    fake_kaggle.add_competition(COMP, zip_bytes(CSVS))
    return fake_kaggle


def write_submission(workdir: Path, competition: str = COMP, text: str = SUBMISSION) -> Path:
    path = workdir / "submissions" / competition / "baseline.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- fetch ---------------------------------------------------------------------------------------


def test_fetch_unpacks_the_files_and_records_the_metric(kaggle: FakeKaggle, workdir: Path) -> None:
    dest = workdir / "data" / COMP
    result = competitions.fetch(COMP, dest)
    assert (result.source, result.directory, result.evaluation_metric) == ("download", dest, "F1Score")
    for name, text in CSVS.items():
        assert (dest / name).read_text() == text
    meta = json.loads((dest / META_FILE).read_text())
    assert meta["competition"] == COMP and meta["evaluation_metric"] == "F1Score" and meta["fetched_at"]
    assert infer_metric(dest, Binary(), "label", None) == ("f1", "Kaggle API (F1Score)")
    assert leftovers(workdir / "data") == [COMP]  # no staging folder left beside it


def test_fetch_skips_a_complete_folder_and_force_downloads_again(kaggle: FakeKaggle, workdir: Path) -> None:
    dest = workdir / "data" / COMP
    competitions.fetch(COMP, dest)
    (dest / "train.csv").write_text("edited\n")
    again = competitions.fetch(COMP, dest)
    assert (again.source, again.evaluation_metric) == ("existing", "F1Score")
    assert (dest / "train.csv").read_text() == "edited\n"
    assert kaggle.count("DownloadDataFiles") == 1
    forced = competitions.fetch(COMP, dest, force=True)
    assert forced.source == "download" and kaggle.count("DownloadDataFiles") == 2
    assert (dest / "train.csv").read_text() == CSVS["train.csv"]
    assert leftovers(workdir / "data") == [COMP]


def test_fetch_skips_a_finished_download_without_train_csv(fake_kaggle: FakeKaggle, workdir: Path) -> None:
    """A competition shipped as JSON (PII) or essays has no train.csv: its finished download is not fetched again."""
    files = {"train.json": "[]", "test.json": "[]", "sample_submission.csv": "row_id,document,token,label\n"}
    fake_kaggle.add_competition("pii", zip_bytes(files))
    dest = workdir / "data" / "pii"
    assert competitions.fetch("pii", dest).source == "download"
    assert competitions.fetch("pii", dest).source == "existing"
    assert fake_kaggle.count("DownloadDataFiles") == 1


def test_fetch_signs_in_with_an_api_token(kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    assert competitions.fetch(COMP, workdir / "data" / COMP).source == "download"
    assert kaggle.count("IntrospectToken") == 1


def test_fetch_in_a_kaggle_notebook_uses_the_input_mount(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kaggle_input = workdir / "kaggle-input"
    (kaggle_input / COMP).mkdir(parents=True)
    monkeypatch.setattr(config, "KAGGLE_INPUT", kaggle_input)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    result = competitions.fetch(COMP, workdir / "data" / COMP)  # no server running: nothing is downloaded
    assert (result.source, result.directory) == ("mount", kaggle_input / COMP)


def test_no_credentials(kaggle: FakeKaggle, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(KaggleApiError) as e:
        competitions.fetch(COMP, workdir / "data" / COMP)
    assert str(e.value) == client.NO_CREDENTIALS
    assert kaggle.calls == []


def test_fetch_signs_in_with_kaggle_json(
    kaggle: FakeKaggle, kaggle_env: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    assert not client.has_credentials()
    config_file = kaggle_env / ".kaggle" / "kaggle.json"
    config_file.parent.mkdir(exist_ok=True)
    config_file.write_text(json.dumps({"username": USERNAME, "key": KEY}))
    config_file.chmod(0o600)
    assert client.has_credentials()
    assert competitions.fetch(COMP, workdir / "data" / COMP).source == "download"


def test_an_invalid_api_token_is_one_clear_error(
    kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "expired-token")
    with pytest.raises(KaggleApiError, match="API token may be invalid or expired"):
        competitions.fetch(COMP, workdir / "data" / COMP)
    assert capsys.readouterr().out == ""  # not the client's page of login help


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param({"key": "wrong-key"}, ["rejected your credentials (401", "KAGGLE_KEY"], id="401"),
        pytest.param({"rules_accepted": False}, ["(403", f"https://www.kaggle.com/competitions/{COMP}/rules"], id="403"),
        pytest.param({"competition": "no-such-competition"}, ["no competition 'no-such-competition' (404"], id="404"),
    ],
)
def test_fetch_http_errors_name_the_fix(
    setup: dict, expected: list[str], fake_kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kaggle.add_competition(COMP, zip_bytes(CSVS), rules_accepted=setup.get("rules_accepted", True))
    monkeypatch.setenv("KAGGLE_KEY", setup.get("key", KEY))
    competition = setup.get("competition", COMP)
    with pytest.raises(KaggleApiError) as e:
        competitions.fetch(competition, workdir / "data" / competition)
    for text in expected:
        assert text in str(e.value)
    assert leftovers(workdir / "data") == []


def test_fetch_with_the_network_down_names_the_host(no_server: None, workdir: Path) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            pytest.fail(f"something listens on port {PORT}; this test needs it closed")
    with pytest.raises(KaggleApiError, match=f"cannot reach the Kaggle API at localhost:{PORT}"):
        competitions.fetch(COMP, workdir / "data" / COMP)


def test_a_corrupt_zip_leaves_nothing_half_written(fake_kaggle: FakeKaggle, workdir: Path) -> None:
    fake_kaggle.add_competition(COMP, zip_bytes(CSVS)[:-40])
    with pytest.raises(DataError, match=f"download of '{COMP}' is not a valid zip"):
        competitions.fetch(COMP, workdir / "data" / COMP)
    assert leftovers(workdir / "data") == []

    dest = workdir / "data" / COMP  # an earlier complete download survives a failed --force
    dest.mkdir()
    for name in FILES:
        (dest / name).write_text("earlier\n")
    fake_kaggle.competitions[COMP].archive = b"<html>not a zip</html>"
    with pytest.raises(DataError):
        competitions.fetch(COMP, dest, force=True)
    assert leftovers(workdir / "data") == [COMP]
    assert leftovers(dest) == sorted(FILES) and (dest / "train.csv").read_text() == "earlier\n"


# -- submit and submissions ------------------------------------------------------------------------


def test_submit_and_wait_for_the_score(kaggle: FakeKaggle, workdir: Path) -> None:
    path = write_submission(workdir)
    status = competitions.submit(path, COMP, "first try", wait=True, poll_seconds=0.01)
    assert (status.status, status.public_score, status.file_name, status.description) == (
        "complete", 0.78455, "baseline.csv", "first try"
    )
    assert [u.content for u in kaggle.uploads.values()] == [SUBMISSION.encode()]
    assert kaggle.submissions[0].reads == 2  # pending on the first read, scored on the next


def test_submit_wait_rides_out_a_404_just_after_creation(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.competitions[COMP].unreadable_reads = 2
    status = competitions.submit(write_submission(workdir), COMP, "eventually", wait=True, poll_seconds=0.01)
    assert (status.status, status.public_score) == ("complete", 0.78455)
    assert kaggle.count("GetSubmission") == 4


def test_submit_without_wait_reports_pending(kaggle: FakeKaggle, workdir: Path) -> None:
    status = competitions.submit(write_submission(workdir), COMP, "no wait")
    assert (status.status, status.public_score) == ("pending", None)


def test_submit_wait_gives_up_after_the_timeout(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.competitions[COMP].pending_reads = 1000
    with pytest.raises(KaggleApiError, match=f"still being scored after 0.05 s: .*kagglekit submissions {COMP}"):
        competitions.submit(write_submission(workdir), COMP, "slow", wait=True, poll_seconds=0.01, timeout_seconds=0.05)


def test_submit_scoring_error_raises_the_servers_reason(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.competitions[COMP].scoring_error = "Submission must have 3263 rows"
    with pytest.raises(KaggleApiError, match="could not score baseline.csv .*: Submission must have 3263 rows"):
        competitions.submit(write_submission(workdir), COMP, "bad", wait=True, poll_seconds=0.01)


def test_submit_over_the_daily_limit_raises_the_servers_reason(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.competitions[COMP].daily_limit_reached = True
    with pytest.raises(KaggleApiError) as e:
        competitions.submit(write_submission(workdir), COMP, "one too many")
    assert f"refused the submission of baseline.csv to '{COMP}'" in str(e.value)
    assert DAILY_LIMIT_MESSAGE in str(e.value)


def test_submit_a_missing_file(workdir: Path) -> None:
    with pytest.raises(DataError, match="nowhere.csv does not exist"):
        competitions.submit(workdir / "nowhere.csv", COMP, "x")


def test_list_submissions_newest_first(kaggle: FakeKaggle, workdir: Path) -> None:
    path = write_submission(workdir)
    competitions.submit(path, COMP, "first", wait=True, poll_seconds=0.01)
    competitions.submit(path, COMP, "second")
    listed = competitions.list_submissions(COMP)
    assert [(s.description, s.status, s.public_score) for s in listed] == [
        ("second", "complete", 0.78455),  # its second read: scored now
        ("first", "complete", 0.78455),
    ]
    assert listed[0].date is not None and listed[0].ref > listed[1].ref


# -- CLI --------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_fetch(kaggle: FakeKaggle, workdir: Path) -> None:
    result = runner.invoke(app, ["fetch", COMP])
    assert result.exit_code == 0, result.output
    assert f"data/{COMP}" in result.output and "F1Score" in result.output
    assert (workdir / "data" / COMP / "train.csv").is_file()
    again = runner.invoke(app, ["fetch", COMP, "--data-dir", str(workdir / "data" / COMP)])
    assert again.exit_code == 0 and "--force" in again.output


def test_cli_fetch_error_is_one_line_and_exit_1(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.competitions[COMP].rules_accepted = False
    result = runner.invoke(app, ["fetch", COMP])
    assert result.exit_code == 1
    assert f"/competitions/{COMP}/rules" in result.stderr and "Traceback" not in result.output


def fetched(workdir: Path) -> None:
    """The competition's CSVs in data/COMP, where submit finds sample_submission.csv."""
    dest = workdir / "data" / COMP
    dest.mkdir(parents=True)
    for name, text in CSVS.items():
        (dest / name).write_text(text)


def test_cli_submit_wait_prints_the_score(kaggle: FakeKaggle, workdir: Path) -> None:
    fetched(workdir)
    kaggle.competitions[COMP].pending_reads = 0  # scored at once: the CLI polls every 5 s
    path = write_submission(workdir)
    result = runner.invoke(app, ["submit", str(path), "--wait"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "public score: 0.78455" in result.output
    assert kaggle.submissions[0].description == "kagglekit baseline"


def test_cli_submit_checks_the_file_against_the_sample_first(kaggle: FakeKaggle, workdir: Path) -> None:
    fetched(workdir)
    result = runner.invoke(app, ["submit", str(write_submission(workdir, text="id,target\n0,1\n"))])
    assert result.exit_code == 1 and "error:" in result.stderr
    assert kaggle.uploads == {}


def test_cli_submit_refused_exits_1(kaggle: FakeKaggle, workdir: Path) -> None:
    fetched(workdir)
    kaggle.competitions[COMP].daily_limit_reached = True
    result = runner.invoke(app, ["submit", str(write_submission(workdir)), "-c", COMP, "-m", "again"])
    assert result.exit_code == 1
    assert "daily Submission allowance" in result.stderr


def test_cli_submissions_table(kaggle: FakeKaggle, workdir: Path) -> None:
    competitions.submit(write_submission(workdir), COMP, "first", wait=True, poll_seconds=0.01)
    result = runner.invoke(app, ["submissions", COMP])
    assert result.exit_code == 0, result.output
    for text in ("baseline.csv", "first", "complete", "0.78455"):
        assert text in result.output


def test_cli_help_of_each_command() -> None:
    for command, text in [("fetch", "Download"), ("submit", "sample_submission.csv"), ("submissions", "status")]:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and text in result.output
