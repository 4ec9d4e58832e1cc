"""fetch, submit, submissions, kernels and the bundle's dataset against a misbehaving Kaggle server: hangs, 429, 5xx,
resets, bad zips, dead links, expiring credentials. Each fault ends in success after bounded retries or in one clear
KaggleApiError/DataError; nothing half-written stays in data/, a submission or dataset is never created twice, and
the kaggle client's own retry loop (which prints "Request failed") never runs."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from tests.fake_kaggle import BASE_URL, USERNAME, FakeKaggle, Misbehaviour, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels
from tests.test_kaggle_api import COMP, CSVS, SUBMISSION, leftovers, workdir, write_submission  # noqa: F401
from kagglekit.kaggle import bundle, client, competitions, kernels
from kagglekit.errors import ConfigError, DataError, KaggleApiError
from kagglekit.kaggle.client import HttpPolicy

ATTEMPTS = 1 + HttpPolicy().retries
TIMEOUT = 2  # seconds: short, yet long enough for a busy CI machine to answer the requests that do not hang


@pytest.fixture
def kaggle(fake_kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKaggle:
    """The fake server with one competition; requests give up after TIMEOUT seconds without an answer."""
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", str(TIMEOUT))
    fake_kaggle.add_competition(COMP, zip_bytes(CSVS))
    return fake_kaggle


def fetch(workdir: Path, **options: object) -> competitions.FetchResult:
    return competitions.fetch(COMP, workdir / "data" / COMP, **options)  # type: ignore[arg-type]


def assert_fetched(workdir: Path) -> None:
    for name, text in CSVS.items():
        assert (workdir / "data" / COMP / name).read_text() == text
    assert leftovers(workdir / "data") == [COMP]


# -- fetch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["GetCompetition", "DownloadDataFiles", "/storage/"])
def test_a_server_that_never_answers_times_out_with_nothing_left_in_data(target: str, kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault(target, Misbehaviour.HANG)
    with pytest.raises(KaggleApiError) as e:
        fetch(workdir)
    assert f"no answer from the Kaggle API at localhost:7777 within {TIMEOUT} s while " in str(e.value)
    assert "KAGGLEKIT_HTTP_TIMEOUT=SECONDS" in str(e.value)
    assert leftovers(workdir / "data") == []
    assert len([call for call in kaggle.calls if target in call]) == 1  # a timeout is not retried


def test_the_timeout_argument_overrides_the_environment(kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", "30")
    kaggle.add_fault("GetCompetition", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError, match="within 0.5 s while reading competition"):
        fetch(workdir, timeout=0.5)


@pytest.mark.parametrize(
    ("status", "headers"),
    [(429, {"Retry-After": "0"}), (429, {}), (500, {}), (502, {}), (503, {"Retry-After": "0"}), (504, {})],
    ids=["429-retry-after", "429", "500", "502", "503", "504"],
)
def test_rate_limits_and_server_errors_are_retried(status: int, headers: dict, kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("GetCompetition", Misbehaviour.ERROR, status=status, headers=headers, times=2)
    kaggle.add_fault("DownloadDataFiles", Misbehaviour.ERROR, status=status, headers=headers, times=1)
    kaggle.add_fault("/storage/", Misbehaviour.ERROR, status=status, headers=headers, times=1)
    assert fetch(workdir).source == "download"
    assert_fetched(workdir)
    assert (kaggle.count("GetCompetition"), kaggle.count("DownloadDataFiles")) == (3, 2)


def test_a_lasting_rate_limit_ends_in_a_clear_error_after_bounded_retries(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("GetCompetition", Misbehaviour.ERROR, status=429, times=100)
    with pytest.raises(KaggleApiError) as e:
        fetch(workdir)
    assert "Kaggle is limiting the rate of requests (429" in str(e.value)
    assert f"({ATTEMPTS} attempts): wait a few minutes, then retry" in str(e.value)
    assert kaggle.count("GetCompetition") == ATTEMPTS
    assert leftovers(workdir / "data") == []


def test_a_retry_after_beyond_the_cap_is_not_waited_for(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("GetCompetition", Misbehaviour.ERROR, status=429, headers={"Retry-After": "3600"}, times=100)
    with pytest.raises(KaggleApiError, match="wait 3600 s as Kaggle asks, then retry"):
        fetch(workdir)
    assert kaggle.count("GetCompetition") == 1


def test_lasting_server_errors_say_the_trouble_is_on_kaggles_side(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("/storage/", Misbehaviour.ERROR, status=503, times=100)
    with pytest.raises(KaggleApiError) as e:
        fetch(workdir)
    assert "the Kaggle API failed (503" in str(e.value) and f"while downloading '{COMP}' ({ATTEMPTS} attempts)" in str(e.value)
    assert "retry in a few minutes" in str(e.value)
    assert leftovers(workdir / "data") == []


def test_retries_can_be_turned_off(kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLEKIT_HTTP_RETRIES", "0")
    kaggle.add_fault("GetCompetition", Misbehaviour.ERROR, status=503)
    with pytest.raises(KaggleApiError, match=r"failed \(503"):
        fetch(workdir)
    assert kaggle.count("GetCompetition") == 1


def test_a_download_reset_halfway_starts_over(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("/storage/", Misbehaviour.CUT, times=2)
    assert fetch(workdir).source == "download"
    assert_fetched(workdir)
    assert kaggle.count("DownloadDataFiles") == 3


def test_a_download_that_always_breaks_ends_in_a_clear_error_and_keeps_the_earlier_copy(kaggle: FakeKaggle, workdir: Path) -> None:
    dest = workdir / "data" / COMP
    fetch(workdir)
    (dest / "train.csv").write_text("earlier\n")
    kaggle.add_fault("/storage/", Misbehaviour.CUT, times=100)
    with pytest.raises(KaggleApiError) as e:
        fetch(workdir, force=True)
    assert f"the connection to the Kaggle API at localhost:7777 broke while downloading '{COMP}' ({ATTEMPTS} attempts)" in str(e.value)
    assert leftovers(workdir / "data") == [COMP] and (dest / "train.csv").read_text() == "earlier\n"


def test_a_reset_after_a_read_only_call_is_retried(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("GetCompetition", Misbehaviour.RESET_AFTER)
    assert fetch(workdir).source == "download"
    assert kaggle.count("GetCompetition") == 2


def test_a_zip_with_a_corrupt_member_is_refused(kaggle: FakeKaggle, workdir: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("train.csv", CSVS["train.csv"])
    corrupt = bytearray(buffer.getvalue())
    corrupt[corrupt.index(b"Our Deeds")] ^= 0xFF  # the stored bytes change, the CRC recorded beside them does not
    kaggle.competitions[COMP].archive = bytes(corrupt)
    with pytest.raises(DataError, match="train.csv fails its CRC check"):
        fetch(workdir)
    assert leftovers(workdir / "data") == []


def test_a_redirect_to_a_missing_file_names_the_dead_link(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("DownloadDataFiles", Misbehaviour.ERROR, status=302, headers={"Location": f"{BASE_URL}/storage/expired.zip"})
    with pytest.raises(KaggleApiError) as e:
        fetch(workdir)
    assert f"the file Kaggle sent us to for '{COMP}' is not there (404" in str(e.value) and "links expire" in str(e.value)
    assert "no competition" not in str(e.value)
    assert leftovers(workdir / "data") == []


def test_credentials_that_expire_mid_fetch(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.calls_before_expiry = 1  # GetCompetition works, DownloadDataFiles does not
    with pytest.raises(KaggleApiError, match=r"rejected your credentials \(401.*while downloading.*may have expired"):
        fetch(workdir)
    assert kaggle.count("DownloadDataFiles") == 1  # a 401 is not retried
    assert leftovers(workdir / "data") == []


def test_the_staging_folder_of_a_killed_fetch_is_removed(kaggle: FakeKaggle, workdir: Path) -> None:
    abandoned = workdir / "data" / f".{COMP}.999999999.abc.partial"  # no such process
    abandoned.mkdir(parents=True)
    (abandoned / f"{COMP}.zip").write_bytes(b"half a zip")
    fetch(workdir)
    assert leftovers(workdir / "data") == [COMP]


# -- submit --------------------------------------------------------------------------------------


def submit(workdir: Path, **options: object) -> competitions.SubmissionStatus:
    return competitions.submit(write_submission(workdir), COMP, "faulty", poll_seconds=0.01, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [Misbehaviour.ERROR_AFTER, Misbehaviour.RESET_AFTER])
def test_a_lost_answer_to_create_submission_finds_the_submission_instead_of_creating_another(
    kind: Misbehaviour, kaggle: FakeKaggle, workdir: Path
) -> None:
    kaggle.add_fault("CreateSubmission", kind, status=500)
    status = submit(workdir, wait=True)
    assert (status.status, status.public_score, status.description) == ("complete", 0.78455, "faulty")
    assert kaggle.count("CreateSubmission") == 1
    assert len(kaggle.submissions) == 1 and status.ref == kaggle.submissions[0].ref


@pytest.mark.parametrize(
    ("kind", "status", "what"),
    [(Misbehaviour.ERROR, 503, "503: fault injected by the test: 503"), (Misbehaviour.HANG, 503, f"no answer within {TIMEOUT} s")],
    ids=["503", "hang"],
)
def test_a_create_submission_that_did_nothing_is_not_sent_again(
    kind: Misbehaviour, status: int, what: str, kaggle: FakeKaggle, workdir: Path
) -> None:
    kaggle.add_fault("CreateSubmission", kind, status=status)
    with pytest.raises(KaggleApiError) as e:
        submit(workdir)
    assert f"creating the submission of baseline.csv to '{COMP}' failed ({what}) and it is not among your submissions" in str(e.value)
    assert f"kagglekit submissions {COMP}" in str(e.value)
    assert kaggle.count("CreateSubmission") == 1 and kaggle.submissions == []


def test_a_rate_limited_create_submission_is_sent_again(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("CreateSubmission", Misbehaviour.ERROR, status=429, headers={"Retry-After": "0"})
    submit(workdir)
    assert kaggle.count("CreateSubmission") == 2  # a 429 means the server did not act on it
    assert len(kaggle.submissions) == 1


def test_upload_faults_are_retried_and_upload_the_file_once(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("StartSubmissionUpload", Misbehaviour.ERROR, status=502)
    kaggle.add_fault("/upload/", Misbehaviour.RESET_AFTER)
    kaggle.add_fault("/upload/", Misbehaviour.ERROR, status=503)
    submit(workdir)
    assert kaggle.count("StartSubmissionUpload") == 2
    assert len([call for call in kaggle.calls if call.startswith("PUT /upload/")]) == 3
    assert [u.content for u in kaggle.uploads.values()] == [SUBMISSION.encode()]
    assert len(kaggle.submissions) == 1 and kaggle.count("CreateSubmission") == 1


def test_the_upload_does_not_carry_our_credentials(kaggle: FakeKaggle, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    handle = kaggle.handle

    def recording(method: str, path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if method == "PUT":
            seen.append(headers.get("authorization", ""))
        return handle(method, path, headers, body)

    monkeypatch.setattr(kaggle, "handle", recording)
    submit(workdir)
    assert seen == [""]


def test_credentials_that_expire_mid_submit(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.calls_before_expiry = 2  # StartSubmissionUpload and ListSubmissions work, CreateSubmission does not
    with pytest.raises(KaggleApiError, match=r"rejected your credentials \(401.*while submitting baseline.csv"):
        submit(workdir)
    assert kaggle.submissions == []


def test_polling_rides_out_server_errors(kaggle: FakeKaggle, workdir: Path) -> None:
    kaggle.add_fault("GetSubmission", Misbehaviour.ERROR, status=503, times=2)
    kaggle.add_fault("GetSubmission", Misbehaviour.RESET_AFTER)
    assert submit(workdir, wait=True).status == "complete"
    assert len(kaggle.submissions) == 1


# -- submissions -----------------------------------------------------------------------------------


def test_list_submissions_retries_then_times_out(kaggle: FakeKaggle, workdir: Path) -> None:
    submit(workdir)
    kaggle.add_fault("ListSubmissions", Misbehaviour.ERROR, status=500, times=2)
    assert [s.description for s in competitions.list_submissions(COMP)] == ["faulty"]
    kaggle.add_fault("ListSubmissions", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError, match=f"within 0.5 s while listing the submissions to '{COMP}'"):
        competitions.list_submissions(COMP, timeout=0.5)


def test_the_cli_prints_a_timeout_as_one_line(kaggle: FakeKaggle, workdir: Path) -> None:
    from kagglekit.cli import app

    kaggle.add_fault("ListSubmissions", Misbehaviour.HANG)
    result = CliRunner().invoke(app, ["submissions", COMP])
    assert result.exit_code == 1, result.output
    assert "KAGGLEKIT_HTTP_TIMEOUT" in result.stderr and "Traceback" not in result.output


# -- kernels: status and output files ---------------------------------------------------------------

KERNEL = f"{USERNAME}/{COMP}-kagglekit"
OUTPUT = b"id,target\n0,1\n2,1\n3,0\n"


@pytest.fixture
def pushed(kaggle: FakeKaggle, workdir: Path, tmp_path: Path) -> FakeKernels:
    """A kernel pushed to the fake server: running for one status read, then complete with a submission.csv."""
    service = FakeKernels(kaggle, tmp_path / "kaggle")
    service.add_dataset(f"{USERNAME}/kagglekit-bundle", {"kagglekit-0.1.0-py3-none-any.whl": b"wheel"})
    service.outputs = {"submission.csv": OUTPUT}
    kernels.init_kernel(COMP, ["baseline"])
    kernels.push_kernel(COMP)
    return service


def output_gets(kaggle: FakeKaggle) -> int:
    return sum(call.startswith("GET /blobs/") for call in kaggle.calls)


def test_kernel_output_faults_are_retried_and_a_cut_file_starts_over(
    pushed: FakeKernels, kaggle: FakeKaggle, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle.add_fault("GetKernelSessionStatus", Misbehaviour.ERROR, status=503)
    kaggle.add_fault("GetKernelSessionStatus", Misbehaviour.RESET_AFTER)
    assert kernels.wait_for_kernel(COMP, poll_seconds=0.01).status == "complete"
    kaggle.add_fault("ListKernelSessionOutput", Misbehaviour.ERROR, status=429, headers={"Retry-After": "0"})
    kaggle.add_fault("/blobs/", Misbehaviour.CUT)
    kaggle.add_fault("/blobs/", Misbehaviour.ERROR, status=502)
    folder, files = kernels.kernel_output(COMP)
    assert (folder / "submission.csv").read_bytes() == OUTPUT and folder / "submission.csv" in files
    assert kaggle.count("ListKernelSessionOutput") == 2 and output_gets(kaggle) == 3
    assert "Request failed" not in "".join(capsys.readouterr())


def test_a_kernel_output_file_that_never_comes_times_out(pushed: FakeKernels, kaggle: FakeKaggle, workdir: Path) -> None:
    kernels.wait_for_kernel(COMP, poll_seconds=0.01)
    kaggle.add_fault("/blobs/", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError) as e:
        kernels.kernel_output(COMP)
    assert (f"no answer from the Kaggle API at localhost:7777 within {TIMEOUT} s while downloading the output of "
            f"kernel {KERNEL} version 1") in str(e.value)
    assert output_gets(kaggle) == 1


def test_lasting_errors_reading_a_kernels_status_end_in_a_clear_error(pushed: FakeKernels, kaggle: FakeKaggle) -> None:
    kaggle.add_fault("GetKernelSessionStatus", Misbehaviour.ERROR, status=500, times=100)
    with pytest.raises(KaggleApiError) as e:
        kernels.kernel_status(COMP)
    assert "the Kaggle API failed (500" in str(e.value)
    assert f"while reading the status of kernel {KERNEL} version 1 ({ATTEMPTS} attempts)" in str(e.value)
    assert kaggle.count("GetKernelSessionStatus") == ATTEMPTS


@pytest.fixture
def initialised(kaggle: FakeKaggle, workdir: Path, tmp_path: Path) -> FakeKernels:
    """A kernel folder, not pushed yet; runs are scripted (running once, then complete)."""
    service = FakeKernels(kaggle, tmp_path / "kaggle")
    service.add_dataset(f"{USERNAME}/kagglekit-bundle", {"kagglekit-0.1.0-py3-none-any.whl": b"wheel"})
    service.outputs = {"submission.csv": OUTPUT}
    kernels.init_kernel(COMP, ["baseline"])
    return service


def test_a_push_that_never_answers_times_out_and_is_not_sent_again(initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    kaggle.add_fault("SaveKernel", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError, match=f"no answer from the Kaggle API at localhost:7777 within {TIMEOUT} s while pushing kernel {KERNEL}"):
        kernels.push_kernel(COMP)
    assert kaggle.count("SaveKernel") == 1


def test_a_rate_limited_push_is_sent_again(initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    kaggle.add_fault("SaveKernel", Misbehaviour.ERROR, status=429, headers={"Retry-After": "0"})
    assert kernels.push_kernel(COMP).version == 1
    assert kaggle.count("SaveKernel") == 2 and len(initialised.kernels[KERNEL]) == 1


@pytest.mark.parametrize("kind", [Misbehaviour.ERROR_AFTER, Misbehaviour.RESET_AFTER])
def test_a_push_whose_answer_is_lost_is_not_sent_again(kind: Misbehaviour, initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    """SaveKernel makes a new version each time: after a lost answer it may have made one, so it is not repeated."""
    kaggle.add_fault("SaveKernel", kind, status=502)
    with pytest.raises(KaggleApiError, match=f"while pushing kernel {KERNEL}"):
        kernels.push_kernel(COMP)
    assert kaggle.count("SaveKernel") == 1 and len(initialised.kernels[KERNEL]) == 1


def test_a_status_read_that_never_answers_times_out(initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    kernels.push_kernel(COMP)
    kaggle.add_fault("GetKernelSessionStatus", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError, match=f"within {TIMEOUT} s while reading the status of kernel {KERNEL} version 1"):
        kernels.wait_for_kernel(COMP, poll_seconds=0.01)
    assert kaggle.count("GetKernelSessionStatus") == 1


def test_kernel_output_listing_rides_out_5xx_and_resets(initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    kernels.push_kernel(COMP)
    kernels.wait_for_kernel(COMP, poll_seconds=0.01)
    kaggle.add_fault("ListKernelSessionOutput", Misbehaviour.ERROR, status=504)
    kaggle.add_fault("ListKernelSessionOutput", Misbehaviour.RESET_AFTER)
    folder, _ = kernels.kernel_output(COMP)
    assert (folder / "submission.csv").read_bytes() == OUTPUT and kaggle.count("ListKernelSessionOutput") == 3


def test_a_kernel_output_listing_that_never_answers_times_out(initialised: FakeKernels, kaggle: FakeKaggle) -> None:
    kernels.push_kernel(COMP)
    kernels.wait_for_kernel(COMP, poll_seconds=0.01)
    kaggle.add_fault("ListKernelSessionOutput", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError, match=f"within {TIMEOUT} s while downloading the output of kernel {KERNEL} version 1"):
        kernels.kernel_output(COMP)


# -- the bundle's dataset: blob uploads and dataset creation ----------------------------------------

DATASET = f"{USERNAME}/kagglekit-bundle"
WHEEL = "kagglekit-0.1.0-py3-none-any.whl"


@pytest.fixture
def datasets(kaggle: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKernels:
    """The fake server's datasets; the kaggle client keeps its upload state under this test's tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return FakeKernels(kaggle, tmp_path / "kaggle")


def built_bundle(workdir: Path) -> Path:
    """A bundle folder as `kagglekit bundle` leaves it, without building a wheel."""
    folder = workdir / "bundle"
    folder.mkdir()
    (folder / WHEEL).write_bytes(b"not really a wheel " * 100)
    (folder / bundle.REQUIREMENTS_FILE).write_text("kagglekit==0.1.0\n")
    return folder


def uploads(kaggle: FakeKaggle) -> int:
    return sum(call.startswith("PUT /upload/") for call in kaggle.calls)


def test_upload_faults_of_a_dataset_are_retried(
    datasets: FakeKernels, kaggle: FakeKaggle, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = built_bundle(workdir)
    kaggle.add_fault("StartBlobUpload", Misbehaviour.ERROR, status=502)
    kaggle.add_fault("/upload/", Misbehaviour.RESET_AFTER)
    kaggle.add_fault("/upload/", Misbehaviour.ERROR, status=503)
    kaggle.add_fault("/upload/", Misbehaviour.ERROR, status=429, headers={"Retry-After": "0"})
    published = bundle.publish_bundle(folder, poll_seconds=0)
    assert (published.ref, published.created) == (DATASET, True)
    assert datasets.datasets[DATASET].files[WHEEL] == (folder / WHEEL).read_bytes()
    assert kaggle.count("StartBlobUpload") == 3 and uploads(kaggle) == 5  # two files, the first PUT three times more
    assert kaggle.count("CreateDataset") == 1
    assert "Request failed" not in "".join(capsys.readouterr())


def test_an_upload_that_never_answers_times_out(datasets: FakeKernels, kaggle: FakeKaggle, workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    kaggle.add_fault("/upload/", Misbehaviour.HANG)
    with pytest.raises(KaggleApiError) as e:
        bundle.publish_bundle(built_bundle(workdir), poll_seconds=0)
    assert f"within {TIMEOUT} s while uploading the bundle to dataset {DATASET}" in str(e.value)
    assert uploads(kaggle) == 1 and kaggle.count("CreateDataset") == 0
    assert "Request failed" not in "".join(capsys.readouterr())


def test_a_lasting_rate_limit_on_dataset_creation_is_retried_a_bounded_number_of_times(
    datasets: FakeKernels, kaggle: FakeKaggle, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle.add_fault("CreateDataset", Misbehaviour.ERROR, status=429, times=100)
    with pytest.raises(KaggleApiError, match=rf"limiting the rate of requests \(429.*\({ATTEMPTS} attempts\)"):
        bundle.publish_bundle(built_bundle(workdir), poll_seconds=0)
    assert kaggle.count("CreateDataset") == ATTEMPTS  # not the client's 10 attempts on top
    assert "Request failed" not in "".join(capsys.readouterr())


@pytest.mark.parametrize("kind", [Misbehaviour.RESET_AFTER, Misbehaviour.ERROR_AFTER])
def test_a_dataset_creation_whose_answer_is_lost_is_not_sent_again(
    kind: Misbehaviour, datasets: FakeKernels, kaggle: FakeKaggle, workdir: Path
) -> None:
    kaggle.add_fault("CreateDataset", kind, status=503)
    with pytest.raises(KaggleApiError, match=f"while uploading the bundle to dataset {DATASET}"):
        bundle.publish_bundle(built_bundle(workdir), poll_seconds=0)
    assert kaggle.count("CreateDataset") == 1 and list(datasets.datasets) == [DATASET]


def test_a_new_dataset_version_rides_out_faults_and_is_created_once(datasets: FakeKernels, kaggle: FakeKaggle, workdir: Path) -> None:
    folder = built_bundle(workdir)
    bundle.publish_bundle(folder, poll_seconds=0)
    kaggle.add_fault("GetDatasetStatus", Misbehaviour.ERROR, status=503)
    kaggle.add_fault("GetDatasetStatus", Misbehaviour.RESET_AFTER)
    kaggle.add_fault("CreateDatasetVersion", Misbehaviour.ERROR, status=429, headers={"Retry-After": "0"})
    kaggle.add_fault("/upload/", Misbehaviour.ERROR, status=500)
    published = bundle.publish_bundle(folder, poll_seconds=0)
    assert published.created is False and datasets.datasets[DATASET].versions == 2
    assert kaggle.count("CreateDatasetVersion") == 2  # the 429, then the version


@pytest.mark.parametrize("kind", [Misbehaviour.HANG, Misbehaviour.ERROR_AFTER, Misbehaviour.RESET_AFTER])
def test_a_dataset_version_whose_answer_is_lost_is_not_sent_again(kind: Misbehaviour, datasets: FakeKernels,
                                                                  kaggle: FakeKaggle, workdir: Path) -> None:
    folder = built_bundle(workdir)
    bundle.publish_bundle(folder, poll_seconds=0)
    kaggle.add_fault("CreateDatasetVersion", kind, status=503)
    with pytest.raises(KaggleApiError, match=f"while uploading the bundle to dataset {DATASET}"):
        bundle.publish_bundle(folder, poll_seconds=0)
    assert kaggle.count("CreateDatasetVersion") == 1


# -- the policy ------------------------------------------------------------------------------------


def test_waits_double_are_capped_and_end() -> None:
    policy = HttpPolicy(retries=3, backoff=1, max_wait=3)
    assert [policy.wait_before_retry(attempt) for attempt in (1, 2, 3, 4)] == [1, 2, 3, None]
    assert policy.wait_before_retry(1, retry_after=2.5) == 2.5
    assert policy.wait_before_retry(1, retry_after=60) is None  # longer than the cap: give up at once


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KAGGLEKIT_HTTP_TIMEOUT", "soon"), ("KAGGLEKIT_HTTP_TIMEOUT", "0"), ("KAGGLEKIT_HTTP_RETRIES", "2.5"),
     ("KAGGLEKIT_HTTP_BACKOFF", "-1"), ("KAGGLEKIT_HTTP_TIMEOUT", "inf")],
)
def test_a_bad_setting_names_the_variable(variable: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}='{value}' is not"):
        HttpPolicy.from_environment()


def test_settings_are_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", "7")
    monkeypatch.setenv("KAGGLEKIT_HTTP_RETRIES", "5")
    assert (HttpPolicy.from_environment().timeout, HttpPolicy.from_environment().retries) == (7, 5)
    assert HttpPolicy.from_environment(timeout=2).timeout == 2
    monkeypatch.delenv("KAGGLEKIT_HTTP_TIMEOUT")
    assert HttpPolicy.from_environment().timeout == HttpPolicy().timeout == 60


@pytest.mark.parametrize(
    ("method", "url", "safe"),
    [
        ("POST", f"{BASE_URL}/api/v1/competitions.CompetitionApiService/GetCompetition", True),
        ("POST", f"{BASE_URL}/api/v1/competitions.CompetitionApiService/ListSubmissions", True),
        ("POST", f"{BASE_URL}/api/v1/competitions.CompetitionApiService/StartSubmissionUpload", True),
        ("POST", f"{BASE_URL}/api/v1/competitions.CompetitionApiService/CreateSubmission", False),
        ("POST", f"{BASE_URL}/api/v1/kernels.KernelsApiService/SaveKernel", False),
        ("PUT", f"{BASE_URL}/upload/blob-1", True),
        ("GET", f"{BASE_URL}/storage/x.zip", True),
    ],
)
def test_which_requests_are_safe_to_repeat(method: str, url: str, safe: bool) -> None:
    assert client.is_safe_to_repeat(requests.Request(method, url).prepare()) is safe
