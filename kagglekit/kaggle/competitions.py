"""A competition through the Kaggle API: fetch its files, submit a file or a kernel's output, list submissions.

Every call goes through :func:`kagglekit.kaggle.client.signed_in_api` (timeouts, retries, one-line errors).
A submission is created at most once, even when the answer to its creation is lost (see :func:`_create_submission`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import requests

from kagglekit import config
from kagglekit.data import FILES, META_FILE
from kagglekit.errors import DataError, KaggleApiError
from kagglekit.io import read_json, write_json
from kagglekit.kaggle import ledger
from kagglekit.kaggle.client import (
    credentials_source,
    download,
    failure_summary,
    kaggle_errors,
    outcome_unknown,
    poll_until,
    put_file,
    signed_in_api,
)

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk.competitions.types.competition_api_service import ApiSubmission

Source = Literal["download", "existing", "mount"]
Status = Literal["pending", "complete", "error"]
POLL_SECONDS = 5.0  # the first wait before reading a submission's status again
SCORE_TIMEOUT_SECONDS = 600.0  # how long to wait for Kaggle to score a submission


@dataclass(frozen=True)
class FetchResult:
    """Where a competition's files are, and whether they were downloaded, already there or mounted."""

    competition: str
    directory: Path
    source: Source
    evaluation_metric: str | None


@dataclass(frozen=True)
class SubmissionStatus:
    """One submission as Kaggle reports it; the scores stay None until Kaggle has scored it."""

    ref: int
    competition: str
    status: Status
    file_name: str | None
    description: str | None
    date: datetime | None
    public_score: float | None
    private_score: float | None
    error_description: str | None


# -- fetch -------------------------------------------------------------------------------------------


def fetch(competition: str, dest: Path, *, force: bool = False, timeout: float | None = None) -> FetchResult:
    """Download a competition's files into ``dest``, all or nothing, and record its metadata in kagglekit.json.

    Skips the download (unless ``force``) when an earlier fetch finished there (its kagglekit.json is written last,
    so the folder is whole whatever files the competition ships: JSON, essays, side tables) or when train.csv,
    test.csv and sample_submission.csv were put there by hand; inside a Kaggle notebook returns the mounted /kaggle/input folder and downloads nothing.
    ``timeout``: seconds each request may wait for the server [default: $KAGGLEKIT_HTTP_TIMEOUT or 60].
    """
    mounted = _notebook_mount(competition)
    if mounted is not None:
        return FetchResult(competition, mounted, "mount", _recorded_metric(mounted))
    dest = Path(dest)
    if not force and ((dest / META_FILE).is_file() or all((dest / name).is_file() for name in FILES)):
        return FetchResult(competition, dest, "existing", _recorded_metric(dest))
    api = signed_in_api(timeout=timeout)
    metadata = {**_competition_metadata(api, competition), "credentials_from": credentials_source(api)}
    _download_and_unpack(api, competition, dest, metadata)
    return FetchResult(competition, dest, "download", metadata["evaluation_metric"])


def _notebook_mount(competition: str) -> Path | None:
    """Inside a Kaggle notebook the data is already mounted read-only under /kaggle/input."""
    if not config.in_kaggle_notebook():
        return None
    folder = config.Workspace.current().data_dir(competition)
    return folder if config.KAGGLE_INPUT in folder.parents else None


def _recorded_metric(directory: Path) -> str | None:
    """The metric an earlier fetch recorded; None when there is no readable kagglekit.json."""
    try:
        return read_json(directory / META_FILE).get("evaluation_metric")
    except (OSError, ValueError, AttributeError):
        return None


def _competition_metadata(api: KaggleApi, competition: str) -> dict[str, Any]:
    """What kagglekit.json records; GetCompetition also tells an unknown competition (404) before any download."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetCompetitionRequest

    request = ApiGetCompetitionRequest()
    request.competition_name = competition
    with kaggle_errors("competition", competition, f"reading competition {competition!r}", api.http_policy), \
            api.build_kaggle_client() as kaggle:
        info = kaggle.competitions.competition_api_client.get_competition(request)
    return {
        "competition": competition,
        "title": info.title,
        "evaluation_metric": info.evaluation_metric,
        "max_daily_submissions": info.max_daily_submissions,
        "deadline": info.deadline.isoformat() if info.deadline else None,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _download_and_unpack(api: KaggleApi, competition: str, dest: Path, metadata: dict[str, Any]) -> None:
    """Download and unpack in a hidden folder beside ``dest``, then rename it over ``dest``: all or nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(dest)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".partial", dir=dest.parent))
    try:
        archive = staging / f"{competition}.zip"
        with kaggle_errors("competition", competition, f"downloading {competition!r}", api.http_policy):
            download(archive, lambda: _data_files(api, competition), api.http_policy)
        unpacked = staging / "files"
        _unzip(archive, unpacked, competition)
        write_json(unpacked / META_FILE, metadata)
        _replace_dir(unpacked, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _data_files(api: KaggleApi, competition: str) -> Iterator[requests.Response]:
    """The streamed answer to DownloadDataFiles: the competition's zip, after Kaggle's redirect to storage."""
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    request = ApiDownloadDataFilesRequest()
    request.competition_name = competition
    with api.build_kaggle_client() as kaggle, kaggle.competitions.competition_api_client.download_data_files(request) as response:
        yield response


def _remove_abandoned_staging(dest: Path) -> None:
    """Staging folders of fetches that were killed (their process is gone); a running fetch's folder stays."""
    for folder in dest.parent.glob(f".{dest.name}.*.partial"):
        pid = folder.name[len(dest.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _unzip(archive: Path, target: Path, competition: str) -> None:
    again = (
        f"run `kagglekit fetch {competition}` again, or download the data from "
        f"https://www.kaggle.com/competitions/{competition}/data"
    )
    try:
        with zipfile.ZipFile(archive) as bundle:
            broken = bundle.testzip()
            if broken is not None:
                raise DataError(f"the download of {competition!r} is corrupt ({broken} fails its CRC check): {again}")
            bundle.extractall(target)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DataError(f"the download of {competition!r} is not a valid zip archive ({e}): {again}") from None


def _replace_dir(new: Path, dest: Path) -> None:
    """Rename ``new`` to ``dest``; an existing ``dest`` is moved aside first and put back if that fails."""
    if not dest.exists():
        new.rename(dest)
        return
    previous = new.with_name("previous")
    dest.rename(previous)
    try:
        new.rename(dest)
    except OSError:
        previous.rename(dest)
        raise


# -- submit ------------------------------------------------------------------------------------------


def submit(
    path: Path,
    competition: str,
    message: str,
    *,
    wait: bool = False,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float = SCORE_TIMEOUT_SECONDS,
    timeout: float | None = None,
) -> SubmissionStatus:
    """Upload a submission file and report its status; with ``wait``, poll until Kaggle has scored it.

    A submission Kaggle refuses (e.g. over the daily limit) or fails to score raises KaggleApiError with
    the server's reason: the plain kaggle CLI prints "Successfully submitted" and exits 0 in such cases.
    Once created, it is recorded in the CV-vs-leaderboard ledger (:mod:`kagglekit.kaggle.ledger`). It is created at most once, even when the answer to its creation is lost (see :func:`_create_submission`).
    ``timeout_seconds`` bounds the wait for the score; ``timeout`` each request (as in :func:`fetch`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: write a submission first (kagglekit train) or check the path")
    api = signed_in_api(timeout=timeout)
    ref = _create_submission(api, competition, path, message)
    ledger.record(competition, ref, description=message, provenance=ledger.file_provenance(path), kind="file", file=path.name)
    return await_score(api, competition, ref, path.name, wait=wait, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds)


def await_score(
    api: KaggleApi,
    competition: str,
    ref: int,
    what: str,
    *,
    wait: bool,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float = SCORE_TIMEOUT_SECONDS,
) -> SubmissionStatus:
    """The status of new submission ``ref`` (of ``what``, e.g. a file name); with ``wait``, once Kaggle has scored it.

    A submission Kaggle could not score raises KaggleApiError with its reason.
    """
    def read() -> SubmissionStatus:
        return submission_status(api, competition, ref)

    def still(status: SubmissionStatus) -> str:
        return (f"submission {status.ref} ({what}) to {competition!r} is still being scored after {timeout_seconds:g} s: "
                f"see its score later with `kagglekit submissions {competition}`")

    status = poll_until(read, lambda s: not wait or s.status != "pending", timeout_seconds=timeout_seconds,
                        poll_seconds=poll_seconds, still=still)
    if status.status == "error":
        reason = status.error_description or "no reason given"
        raise KaggleApiError(f"Kaggle could not score {what} for {competition!r} (submission {status.ref}): {reason}")
    return status


def list_submissions(competition: str, *, timeout: float | None = None) -> list[SubmissionStatus]:
    """Your team's most recent submissions to a competition (one page of the API, newest first)."""
    return _list_submissions(signed_in_api(timeout=timeout), competition)


def submission_status(api: KaggleApi, competition: str, ref: int) -> SubmissionStatus:
    """A submission's status. A new one can answer 404 for a moment; like the official client's --wait, that is pending."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

    request = ApiGetSubmissionRequest()
    request.ref = int(ref)
    with kaggle_errors(None, None, f"reading submission {ref} to {competition!r}", api.http_policy):
        try:
            with api.build_kaggle_client() as kaggle:
                return _to_status(competition, kaggle.competitions.competition_api_client.get_submission(request))
        except requests.HTTPError as e:
            if e.response is None or e.response.status_code != 404:
                raise
    return SubmissionStatus(ref, competition, "pending", None, None, None, None, None, None)


def _create_submission(api: KaggleApi, competition: str, path: Path, message: str) -> int:
    """Upload ``path`` and create one submission from it; its ref.

    Reserving the upload slot and the upload itself are safe to repeat, and the adapter retries them.
    CreateSubmission is not: after an answer that never came (a timeout, a broken connection, a 5xx) Kaggle
    may or may not have created it, so instead of sending it again we look for it among the team's submissions.
    """
    from kagglesdk.competitions.types.competition_api_service import (
        ApiCreateSubmissionRequest,
        ApiStartSubmissionUploadRequest,
    )

    policy = api.http_policy
    action = f"submitting {path.name} to {competition!r}"
    with kaggle_errors("competition", competition, action, policy), api.build_kaggle_client() as kaggle:
        competitions = kaggle.competitions.competition_api_client
        slot_request = ApiStartSubmissionUploadRequest()
        slot_request.competition_name = competition
        slot_request.file_name = path.name
        slot_request.content_length = path.stat().st_size
        slot_request.last_modified_epoch_seconds = int(path.stat().st_mtime)
        slot = competitions.start_submission_upload(slot_request)
        put_file(path, slot.create_url, policy)
        earlier = {s.ref for s in _list_submissions(api, competition)}
        request = ApiCreateSubmissionRequest()
        request.competition_name = competition
        request.blob_file_tokens = slot.token
        request.submission_description = message
        try:
            created = competitions.create_submission(request)
        except (requests.RequestException, json.JSONDecodeError) as error:
            if not outcome_unknown(error):
                raise
            return _created_after_all(api, competition, path.name, earlier, failure_summary(error, policy))
    if not created.ref:
        reason = created.message or "no reason given"
        raise KaggleApiError(f"Kaggle refused the submission of {path.name} to {competition!r}: {reason}")
    return created.ref


def _created_after_all(api: KaggleApi, competition: str, file_name: str, earlier: set[int], what: str) -> int:
    """The ref of the submission of ``file_name`` that is new since ``earlier``; KaggleApiError when there is none."""
    check = f"check `kagglekit submissions {competition}` before submitting {file_name} again"
    try:
        listed = _list_submissions(api, competition, action=f"looking for the submission of {file_name}")
    except KaggleApiError as e:
        raise KaggleApiError(
            f"Kaggle may or may not have created the submission of {file_name} to {competition!r} ({what}), "
            f"and listing your submissions failed too ({e}): {check}"
        ) from None
    new = [s for s in listed if s.ref not in earlier and s.file_name == file_name]
    if not new:
        raise KaggleApiError(
            f"creating the submission of {file_name} to {competition!r} failed ({what}) and it is not among your "
            f"submissions, so Kaggle did not create it: retry later; to be sure, {check}"
        )
    return new[0].ref


def _list_submissions(api: KaggleApi, competition: str, *, action: str | None = None) -> list[SubmissionStatus]:
    action = action or f"listing the submissions to {competition!r}"
    with kaggle_errors("competition", competition, action, api.http_policy):
        submissions = api.competition_submissions(competition)
    return [_to_status(competition, s) for s in submissions or [] if s is not None]


def submit_code(api: KaggleApi, competition: str, kernel: str, version: int, file_name: str, message: str) -> int:
    """Create a code-competition submission of a kernel version's output file; its ref (Kaggle reruns the kernel)."""
    what = f"kernel {kernel} version {version}"
    with kaggle_errors("competition", competition, f"submitting {what} to {competition!r}", api.http_policy):
        created = api.competition_submit_code(file_name, message, competition, kernel=kernel, kernel_version=version, quiet=True)
    if not created.ref:
        raise KaggleApiError(f"Kaggle refused the submission of {what} to {competition!r}: {created.message or 'no reason given'}")
    return int(created.ref)


def _to_status(competition: str, submission: ApiSubmission) -> SubmissionStatus:
    return SubmissionStatus(
        ref=submission.ref,
        competition=competition,
        status=cast(Status, submission.status.name.lower()),
        file_name=submission.file_name,
        description=submission.description,
        date=submission.date,
        public_score=_score(submission.public_score),
        private_score=_score(submission.private_score),
        error_description=submission.error_description,
    )


def _score(text: str | None) -> float | None:
    """Kaggle sends scores as strings; an empty or unpublished one is None."""
    try:
        return float(text) if text else None
    except ValueError:
        return None
