"""Kaggle through the official ``kaggle`` client: fetch a competition's files, submit, list submissions.

The client is imported lazily and only after we have found credentials ourselves: importing ``kaggle``
authenticates at import time, and ``KaggleApi.authenticate()`` calls ``exit(1)`` when it finds none.
Every failure of the client (an HTTP error, no network, an exit, a refusal it reports as success)
becomes a KaggleApiError or DataError that names the competition and what to do.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlparse

import requests

from kagglekit import config
from kagglekit.data import FILES, META_FILE
from kagglekit.errors import DataError, KaggleApiError
from kagglekit.io import read_json, write_json

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk.competitions.types.competition_api_service import ApiSubmission

NO_CREDENTIALS = (
    "no Kaggle credentials: put kaggle.json in ~/.kaggle or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
NEW_TOKEN_URL = "https://www.kaggle.com/settings/api"

Source = Literal["download", "existing", "mount"]
Status = Literal["pending", "complete", "error"]


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


def fetch(competition: str, dest: Path, *, force: bool = False) -> FetchResult:
    """Download a competition's files into ``dest``, all or nothing, and record its metadata in kagglekit.json.

    Skips the download when train.csv, test.csv and sample_submission.csv are already in ``dest`` (unless
    ``force``); inside a Kaggle notebook returns the mounted /kaggle/input folder and downloads nothing.
    """
    mounted = _notebook_mount(competition)
    if mounted is not None:
        return FetchResult(competition, mounted, "mount", _recorded_metric(mounted))
    dest = Path(dest)
    if not force and all((dest / name).is_file() for name in FILES):
        return FetchResult(competition, dest, "existing", _recorded_metric(dest))
    api = _signed_in_api()
    metadata = _competition_metadata(api, competition)
    _download_and_unpack(api, competition, dest, metadata)
    return FetchResult(competition, dest, "download", metadata["evaluation_metric"])


def submit(
    path: Path,
    competition: str,
    message: str,
    *,
    wait: bool = False,
    poll_seconds: float = 5,
    timeout_seconds: float = 600,
) -> SubmissionStatus:
    """Upload a submission file and report its status; with ``wait``, poll until Kaggle has scored it.

    A submission Kaggle refuses (e.g. over the daily limit) or fails to score raises KaggleApiError with
    the server's reason: the plain kaggle CLI prints "Successfully submitted" and exits 0 in such cases.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: write a submission first (kagglekit train) or check the path")
    api = _signed_in_api()
    with _kaggle_errors(competition, f"submitting {path.name} to {competition!r}"):
        created = api.competition_submit(str(path), message, competition, quiet=True)
    if created.message == api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
        raise KaggleApiError(f"uploading {path} to {competition!r} failed: check your network connection and retry")
    if not created.ref:
        reason = created.message or "no reason given"
        raise KaggleApiError(f"Kaggle refused the submission of {path.name} to {competition!r}: {reason}")
    status = _submission_status(api, competition, created.ref)
    deadline = time.monotonic() + timeout_seconds
    while wait and status.status == "pending":
        if time.monotonic() >= deadline:
            raise KaggleApiError(
                f"submission {status.ref} ({path.name}) to {competition!r} is still being scored after "
                f"{timeout_seconds:g} s: see its score later with `kagglekit submissions {competition}`"
            )
        time.sleep(poll_seconds)
        status = _submission_status(api, competition, created.ref)
    if status.status == "error":
        reason = status.error_description or "no reason given"
        raise KaggleApiError(f"Kaggle could not score {path.name} for {competition!r} (submission {status.ref}): {reason}")
    return status


def list_submissions(competition: str) -> list[SubmissionStatus]:
    """Your team's most recent submissions to a competition (one page of the API, newest first)."""
    api = _signed_in_api()
    with _kaggle_errors(competition, f"listing the submissions to {competition!r}"):
        submissions = api.competition_submissions(competition)
    return [_to_status(competition, s) for s in submissions or [] if s is not None]


def has_credentials() -> bool:
    """Whether any credential the kaggle client accepts is present; checked before it can exit on us."""
    env = os.environ
    kaggle_home = Path.home() / ".kaggle"
    token_files = [kaggle_home / "access_token", kaggle_home / "access_token.txt", kaggle_home / "credentials.json"]
    if env.get("KAGGLE_API_V1_TOKEN"):  # the token file a Kaggle notebook provides
        token_files.append(Path(env["KAGGLE_API_V1_TOKEN"]))
    if env.get("KAGGLE_API_TOKEN") or any(_non_empty(f) for f in token_files):
        return True
    # Like the client: kaggle.json first, then KAGGLE_* variables override its keys.
    values = {**_read_kaggle_json(_config_file()), **{k[7:].lower(): v for k, v in env.items() if k.startswith("KAGGLE_")}}
    return bool(values.get("username") and values.get("key"))


def _config_file() -> Path:
    """kaggle.json where the client reads it: $KAGGLE_CONFIG_DIR, ~/.kaggle, or ~/.config/kaggle on Linux without ~/.kaggle."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    kaggle_home = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not kaggle_home.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle" / "kaggle.json"
    return kaggle_home / "kaggle.json"


def _read_kaggle_json(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or unreadable: the client ignores it too
        return {}
    return values if isinstance(values, dict) else {}


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


@cache
def _api_class() -> type[KaggleApi]:
    """KaggleApi whose SDK client honours KAGGLE_API_ENVIRONMENT; the stock one always talks to production."""
    with redirect_stdout(io.StringIO()):  # importing `kaggle` authenticates and may print its login help
        from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk import KaggleClient
    from kagglesdk.kaggle_env import get_env

    class EnvAwareKaggleApi(KaggleApi):
        def build_kaggle_client(self) -> KaggleClient:
            return KaggleClient(
                env=get_env(),
                verbose="--verbose" in self.args,
                username=self.config_values.get(self.CONFIG_NAME_USER),
                password=self.config_values.get(self.CONFIG_NAME_KEY),
                api_token=self.config_values.get(self.CONFIG_NAME_TOKEN),
                response_processor=self.get_response_processor(),
            )

    return EnvAwareKaggleApi


def _signed_in_api() -> KaggleApi:
    if not has_credentials():
        raise KaggleApiError(NO_CREDENTIALS)
    api = _api_class()()
    # The client fixes its kaggle.json path when first imported; follow KAGGLE_CONFIG_DIR as it is now.
    api.config_dir, api.config = str(_config_file().parent), str(_config_file())
    # Keep the client's generic login help (printed before it exits) out of our one-line error.
    printed = io.StringIO()
    with _kaggle_errors(None, "signing in to Kaggle"), redirect_stdout(printed):
        api.authenticate()
    sys.stdout.write(printed.getvalue())  # e.g. its warning that kaggle.json is readable by others
    return api


@contextmanager
def _kaggle_errors(competition: str | None, action: str) -> Iterator[None]:
    """Turn the client's failures into one-line errors that say what to do."""
    try:
        yield
    except requests.HTTPError as e:
        raise _http_error(e.response, competition, action) from None
    except requests.ConnectionError as e:
        raise KaggleApiError(
            f"cannot reach the Kaggle API at {_host(e)} while {action}: check your network connection "
            "(and proxy settings), then retry"
        ) from None
    except requests.RequestException as e:
        raise KaggleApiError(f"the request to the Kaggle API at {_host(e)} failed while {action}: {e}") from None
    except json.JSONDecodeError:
        raise KaggleApiError(
            f"the Kaggle API answered with something that is not JSON while {action}: "
            "check your proxy settings and KAGGLE_API_ENVIRONMENT"
        ) from None
    except SystemExit as e:  # authenticate() exits when none of the credentials it found works
        raise KaggleApiError(
            f"the kaggle client found no working credentials while {action} (it exited with status {e.code}): "
            f"an API token may be invalid or expired; check KAGGLE_API_TOKEN, ~/.kaggle/access_token and kaggle.json, "
            f"or create a new API token at {NEW_TOKEN_URL}"
        ) from None


def _http_error(response: requests.Response | None, competition: str | None, action: str) -> KaggleApiError:
    status = response.status_code if response is not None else None
    reason = _server_reason(response)
    detail = f" ({status}: {reason})" if reason else f" ({status})"
    if status == 401:
        return KaggleApiError(
            f"Kaggle rejected your credentials{detail} while {action}: check KAGGLE_USERNAME and KAGGLE_KEY, "
            f"KAGGLE_API_TOKEN or kaggle.json, or create a new API token at {NEW_TOKEN_URL}"
        )
    if status == 403 and competition:
        return KaggleApiError(
            f"Kaggle refused access to competition {competition!r}{detail} while {action}: accept its rules at "
            f"https://www.kaggle.com/competitions/{competition}/rules with the account of your API credentials, then retry"
        )
    if status == 404 and competition:
        return KaggleApiError(
            f"Kaggle has no competition {competition!r}{detail} while {action}: check the name in its URL, "
            f"https://www.kaggle.com/competitions/NAME"
        )
    if status == 429:
        return KaggleApiError(f"Kaggle is limiting the rate of requests{detail} while {action}: wait a minute and retry")
    return KaggleApiError(f"the Kaggle API failed{detail} while {action}")


def _server_reason(response: requests.Response | None) -> str:
    """The server's own message: the "message" of a JSON error body, else the HTTP reason phrase."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or response.reason or "").strip()


def _host(error: requests.RequestException) -> str:
    """The host a failed request went to, else the API endpoint the client is configured for."""
    if error.request is not None and error.request.url:
        return urlparse(error.request.url).netloc
    from kagglesdk.kaggle_env import get_endpoint, get_env

    return urlparse(get_endpoint(get_env())).netloc


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
    with _kaggle_errors(competition, f"reading competition {competition!r}"), api.build_kaggle_client() as kaggle:
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
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        archive = staging / f"{competition}.zip"
        request = ApiDownloadDataFilesRequest()
        request.competition_name = competition
        with _kaggle_errors(competition, f"downloading {competition!r}"), api.build_kaggle_client() as kaggle:
            response = kaggle.competitions.competition_api_client.download_data_files(request)
            try:
                api.download_file(response, str(archive), kaggle.http_client(), quiet=True)
            except ValueError as e:  # the client's check that the body has the announced length
                raise KaggleApiError(f"the download of {competition!r} was cut short ({e}): run `kagglekit fetch {competition}` again") from None
        unpacked = staging / "files"
        _unzip(archive, unpacked, competition)
        write_json(unpacked / META_FILE, metadata)
        _replace_dir(unpacked, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def _submission_status(api: KaggleApi, competition: str, ref: int) -> SubmissionStatus:
    """A new submission can answer 404 for a moment; like the official client's --wait, count that as pending."""
    with _kaggle_errors(competition, f"reading submission {ref} to {competition!r}"):
        try:
            return _to_status(competition, api.get_submission(ref))
        except requests.HTTPError as e:
            if e.response is None or e.response.status_code != 404:
                raise
    return SubmissionStatus(ref, competition, "pending", None, None, None, None, None, None)


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
