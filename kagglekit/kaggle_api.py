"""Kaggle through the official ``kaggle`` client: fetch a competition's files, submit, list submissions.

The client is imported lazily, without the sign-in that ``kaggle/__init__.py`` does at import time, and
used only after we have found credentials ourselves: ``KaggleApi.authenticate()`` calls ``exit(1)`` when it
finds none.
Every failure of the client (an HTTP error, no network, an exit, a refusal it reports as success)
becomes a KaggleApiError or DataError that names the competition and what to do.

The kaggle client sets no timeout: a server that stops answering would hang a command forever. Every
request made through :func:`_signed_in_api` (kagglekit's own calls and the client's SDK calls, e.g. for kernels and
datasets) goes through an adapter with a timeout and bounded retries (see :class:`HttpPolicy`). Only
requests that are safe to send twice are retried after an ambiguous failure: a submission is never
created twice.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from kagglekit import config
from kagglekit.data import FILES, META_FILE
from kagglekit.errors import ConfigError, DataError, KaggleApiError
from kagglekit.io import read_json, write_json

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk import KaggleClient
    from kagglesdk.competitions.types.competition_api_service import ApiSubmission

NO_CREDENTIALS = (
    "no Kaggle credentials: put kaggle.json in ~/.kaggle or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
NEW_TOKEN_URL = "https://www.kaggle.com/settings/api"

Source = Literal["download", "existing", "mount"]
Status = Literal["pending", "complete", "error"]

TIMEOUT_VARIABLE = "KAGGLEKIT_HTTP_TIMEOUT"
RETRIES_VARIABLE = "KAGGLEKIT_HTTP_RETRIES"
BACKOFF_VARIABLE = "KAGGLEKIT_HTTP_BACKOFF"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# RPCs that only read, or only reserve an upload slot (an unused one expires): sending them twice does no harm.
READ_ONLY_RPC_PREFIXES = ("Get", "List", "Download", "Search", "Introspect")
REPEATABLE_RPCS = frozenset({"StartSubmissionUpload", "StartBlobUpload"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ATTEMPTS = "kagglekit_attempts"  # set on a response or exception: how many times the request was sent


@dataclass(frozen=True)
class HttpPolicy:
    """How patient kagglekit is with the Kaggle API: a timeout on every request, bounded retries with backoff."""

    timeout: float = 60.0  # seconds to connect, and at most between two pieces of an answer
    retries: int = 3  # extra attempts after a 429, a 5xx or a dropped connection
    backoff: float = 1.0  # seconds before the first retry; doubled for each next one
    max_wait: float = 60.0  # the longest wait between attempts; a longer Retry-After ends the retries

    @classmethod
    def from_environment(cls, timeout: float | None = None) -> HttpPolicy:
        """The policy for one call: ``timeout`` if given, else KAGGLEKIT_HTTP_TIMEOUT, KAGGLEKIT_HTTP_RETRIES and
        KAGGLEKIT_HTTP_BACKOFF as they are now (read at each call, so tests and notebooks can change them)."""
        default = cls()
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"timeout={timeout!r} is not a number of seconds above 0: use e.g. {default.timeout:g}")
        return cls(
            timeout=timeout if timeout is not None else _number_from_environment(TIMEOUT_VARIABLE, default.timeout, positive=True),
            retries=int(_number_from_environment(RETRIES_VARIABLE, default.retries, integer=True)),
            backoff=_number_from_environment(BACKOFF_VARIABLE, default.backoff),
        )

    def wait_before_retry(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before sending again after failed ``attempt`` (1 for the first), or None to give up."""
        if attempt > self.retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        return min(self.backoff * 2 ** (attempt - 1), self.max_wait)


def _number_from_environment(name: str, default: float, *, integer: bool = False, positive: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        kind = ("a whole number" if integer else "a number of seconds") + (" above 0" if positive else " from 0 up")
        raise ConfigError(f"{name}={text!r} is not {kind}: unset it or set e.g. {name}={default:g}")
    return value


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


def fetch(competition: str, dest: Path, *, force: bool = False, timeout: float | None = None) -> FetchResult:
    """Download a competition's files into ``dest``, all or nothing, and record its metadata in kagglekit.json.

    Skips the download when train.csv, test.csv and sample_submission.csv are already in ``dest`` (unless
    ``force``); inside a Kaggle notebook returns the mounted /kaggle/input folder and downloads nothing.
    ``timeout``: seconds each request may wait for the server [default: $KAGGLEKIT_HTTP_TIMEOUT or 60].
    """
    mounted = _notebook_mount(competition)
    if mounted is not None:
        return FetchResult(competition, mounted, "mount", _recorded_metric(mounted))
    dest = Path(dest)
    if not force and all((dest / name).is_file() for name in FILES):
        return FetchResult(competition, dest, "existing", _recorded_metric(dest))
    api = _signed_in_api(timeout=timeout)
    metadata = {**_competition_metadata(api, competition), "credentials_from": credentials_source(api)}
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
    timeout: float | None = None,
) -> SubmissionStatus:
    """Upload a submission file and report its status; with ``wait``, poll until Kaggle has scored it.

    A submission Kaggle refuses (e.g. over the daily limit) or fails to score raises KaggleApiError with
    the server's reason: the plain kaggle CLI prints "Successfully submitted" and exits 0 in such cases.
    It is created at most once, even when the answer to its creation is lost (see :func:`_create_submission`).
    ``timeout_seconds`` bounds the wait for the score; ``timeout`` each request (as in :func:`fetch`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: write a submission first (kagglekit train) or check the path")
    api = _signed_in_api(timeout=timeout)
    ref = _create_submission(api, competition, path, message)
    status = _submission_status(api, competition, ref)
    deadline = time.monotonic() + timeout_seconds
    while wait and status.status == "pending":
        if time.monotonic() >= deadline:
            raise KaggleApiError(
                f"submission {status.ref} ({path.name}) to {competition!r} is still being scored after "
                f"{timeout_seconds:g} s: see its score later with `kagglekit submissions {competition}`"
            )
        time.sleep(poll_seconds)
        status = _submission_status(api, competition, ref)
    if status.status == "error":
        reason = status.error_description or "no reason given"
        raise KaggleApiError(f"Kaggle could not score {path.name} for {competition!r} (submission {status.ref}): {reason}")
    return status


def list_submissions(competition: str, *, timeout: float | None = None) -> list[SubmissionStatus]:
    """Your team's most recent submissions to a competition (one page of the API, newest first)."""
    api = _signed_in_api(timeout=timeout)
    return _list_submissions(api, competition)


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


class PatientAdapter(HTTPAdapter):
    """Gives every request the policy's timeout, and sends again after a 429, a 5xx or a dropped connection
    when that is safe: the request is safe to repeat, or the server cannot have acted on it (a 429, no connection).

    A timeout is not retried: the server already had the whole timeout to answer.
    """

    def __init__(self, policy: HttpPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.policy, self.sleep = policy, sleep

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,  # type: ignore[override]
             verify: bool | str = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        timeout = self.policy.timeout if timeout is None else timeout
        repeatable = is_safe_to_repeat(request)
        for attempt in itertools.count(1):
            try:
                response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
            except requests.ConnectionError as error:
                never_sent = _never_connected(error)
                wait = None if isinstance(error, requests.Timeout) else self.policy.wait_before_retry(attempt)
                if wait is None or not (repeatable or never_sent):
                    setattr(error, ATTEMPTS, attempt)
                    raise
            else:
                status = response.status_code
                wait = self.policy.wait_before_retry(attempt, _retry_after(response)) if status in RETRY_STATUSES else None
                if wait is None or not (repeatable or status == 429):
                    setattr(response, ATTEMPTS, attempt)
                    return response
                response.close()
            self.sleep(wait)
        raise AssertionError("unreachable")


def is_safe_to_repeat(request: requests.PreparedRequest) -> bool:
    """Whether sending ``request`` twice does no more than sending it once."""
    if (request.method or "").upper() in IDEMPOTENT_METHODS:
        return True
    rpc = urlparse(request.url or "").path.rstrip("/").rsplit("/", 1)[-1]
    return rpc.startswith(READ_ONLY_RPC_PREFIXES) or rpc in REPEATABLE_RPCS


def _never_connected(error: requests.ConnectionError) -> bool:
    """No connection was made (refused, unknown host), so the server saw nothing of the request."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def patient_session(policy: HttpPolicy, session: requests.Session | None = None) -> requests.Session:
    """``session`` (or a new one) with the policy's timeout and retries on every request."""
    session = session or requests.Session()
    adapter = PatientAdapter(policy)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@cache
def _api_class() -> type[KaggleApi]:
    """KaggleApi whose SDK client honours KAGGLE_API_ENVIRONMENT and the HTTP policy; the stock one always talks
    to production, with no timeout."""
    _register_kaggle_package_without_import_time_sign_in()
    with redirect_stdout(io.StringIO()):  # in case `kaggle` was imported in full already: it may print its login help
        from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk import KaggleClient
    from kagglesdk.kaggle_env import get_env

    class EnvAwareKaggleApi(KaggleApi):
        http_policy = HttpPolicy()

        def build_kaggle_client(self) -> KaggleClient:
            client = KaggleClient(
                env=get_env(),
                verbose=False,  # the client's verbose mode prints each request's Authorization header
                username=self.config_values.get(self.CONFIG_NAME_USER),
                password=self.config_values.get(self.CONFIG_NAME_KEY),
                api_token=self.config_values.get(self.CONFIG_NAME_TOKEN),
                response_processor=self.get_response_processor(),
            )
            # Every SDK call goes through this one session (KaggleHttpClient._init_session creates it on first
            # use and keeps it), so mounting the adapter here covers every call, kernels and datasets included.
            http = client.http_client()
            http._init_session()
            patient_session(self.http_policy, http._session)
            return client

    return EnvAwareKaggleApi


def _register_kaggle_package_without_import_time_sign_in() -> None:
    """Make ``import kaggle.api...`` skip kaggle/__init__.py, which signs in with a stock client as it is imported:
    against production whatever KAGGLE_API_ENVIRONMENT says, and with no timeout, so an unreachable or silent
    server would hang the import. We sign in ourselves, through the patient session (see _signed_in_api)."""
    if "kaggle" in sys.modules:
        return
    spec = importlib.util.find_spec("kaggle")
    if spec is None:
        raise KaggleApiError("the kaggle package is not installed: pip install kaggle")
    sys.modules["kaggle"] = importlib.util.module_from_spec(spec)  # the package, its __init__ not run


def _signed_in_api(*, timeout: float | None = None) -> KaggleApi:
    """A signed-in client whose requests follow :meth:`HttpPolicy.from_environment` (``timeout`` overrides)."""
    if not has_credentials():
        raise KaggleApiError(NO_CREDENTIALS)
    api = _api_class()()
    api.http_policy = HttpPolicy.from_environment(timeout)
    # The client fixes its kaggle.json path when first imported; follow KAGGLE_CONFIG_DIR as it is now.
    api.config_dir, api.config = str(_config_file().parent), str(_config_file())
    # Keep the client's generic login help (printed before it exits) out of our one-line error.
    printed = io.StringIO()
    with _kaggle_errors(None, "signing in to Kaggle"), redirect_stdout(printed):
        api.authenticate()
    sys.stdout.write(printed.getvalue())  # e.g. its warning that kaggle.json is readable by others
    return api


def credentials_source(api: KaggleApi) -> str:
    """Where the credentials ``api`` signed in with came from (a variable's name or a file's path), never their value."""
    from kagglesdk.kaggle_env import get_access_token_from_env

    method = str(api.config_values.get(api.CONFIG_NAME_AUTH_METHOD, ""))
    if "ACCESS_TOKEN" in method:
        _, origin = get_access_token_from_env()
        if origin in ("KAGGLE_API_TOKEN", "KAGGLE_API_V1_TOKEN"):
            named = os.environ.get(origin, "")
            return f"access token in the file {named}" if named and Path(named).is_file() else f"access token in ${origin}"
        token_file = next(f for f in (Path.home() / ".kaggle" / "access_token", Path.home() / ".kaggle" / "access_token.txt")
                          if _non_empty(f))
        return f"access token in the file {token_file}"
    if "OAUTH" in method:
        return f"OAuth credentials in the file {Path.home() / '.kaggle' / 'credentials.json'}"
    key_from = "$KAGGLE_KEY" if os.environ.get("KAGGLE_KEY") else f"the file {_config_file()}"
    return f"API key in {key_from}"


@contextmanager
def _kaggle_errors(competition: str | None, action: str, policy: HttpPolicy | None = None) -> Iterator[None]:
    """Turn the client's failures into one-line errors that say what happened and what to do.

    ``policy``: the HTTP policy of the calls inside, so that a timeout names its limit.
    """
    try:
        yield
    except requests.HTTPError as e:
        raise _http_error(e.response, competition, action) from None
    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        raise _network_error(e, action, policy) from None
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


def _network_error(error: requests.RequestException, action: str, policy: HttpPolicy | None) -> KaggleApiError:
    host = _host(error)
    if _timed_out(error):
        limit = f"{policy.timeout:g} s" if policy else "the time limit"
        return KaggleApiError(
            f"no answer from the Kaggle API at {host} within {limit} while {action}: Kaggle may be down or slow; "
            f"retry later, or allow more time with {TIMEOUT_VARIABLE}=SECONDS"
        )
    if isinstance(error, requests.ConnectionError) and _never_connected(error):
        return KaggleApiError(
            f"cannot reach the Kaggle API at {host} while {action}{_attempts(error)}: check your network connection "
            "(and proxy settings), then retry"
        )
    return KaggleApiError(
        f"the connection to the Kaggle API at {host} broke while {action}{_attempts(error)}: check your network "
        "connection, then retry"
    )


def _timed_out(error: BaseException) -> bool:
    """A timeout, also when requests reports one during a streamed body as a ConnectionError."""
    return isinstance(error, requests.Timeout) or any(isinstance(arg, ReadTimeoutError) for arg in error.args)


def _attempts(obj: object) -> str:
    attempts = getattr(obj, ATTEMPTS, 1)
    return f" ({attempts} attempts)" if attempts > 1 else ""


def _http_error(response: requests.Response | None, competition: str | None, action: str) -> KaggleApiError:
    status = response.status_code if response is not None else None
    reason = _server_reason(response)
    detail = f" ({status}: {reason})" if reason else f" ({status})"
    tried = _attempts(response)
    if status == 401:
        return KaggleApiError(
            f"Kaggle rejected your credentials{detail} while {action}: an API token may have expired; check "
            f"KAGGLE_USERNAME and KAGGLE_KEY, KAGGLE_API_TOKEN or kaggle.json, or create a new API token at {NEW_TOKEN_URL}"
        )
    if status == 404 and response is not None and not _is_api_call(response):
        return KaggleApiError(
            f"the file Kaggle sent us to for {competition or 'this request'!r} is not there{detail} while {action}: "
            "download links expire, so retry; if it keeps failing, download it from the competition's Data page"
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
        asked = _retry_after(response) if response is not None else None
        wait = f"wait {math.ceil(asked):d} s as Kaggle asks" if asked is not None else "wait a few minutes"
        return KaggleApiError(f"Kaggle is limiting the rate of requests{detail} while {action}{tried}: {wait}, then retry")
    if status is not None and status >= 500:
        return KaggleApiError(
            f"the Kaggle API failed{detail} while {action}{tried}: the trouble is on Kaggle's side; retry in a few minutes"
        )
    return KaggleApiError(f"the Kaggle API failed{detail} while {action}")


def _is_api_call(response: requests.Response) -> bool:
    """Whether the response is the API's own answer rather than that of a URL it redirected to (storage, uploads)."""
    return not response.history and "/v1/" in urlparse(response.url or "").path


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
    with _kaggle_errors(competition, f"reading competition {competition!r}", api.http_policy), api.build_kaggle_client() as kaggle:
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
        with _kaggle_errors(competition, f"downloading {competition!r}", api.http_policy):
            _download(api, competition, archive)
        unpacked = staging / "files"
        _unzip(archive, unpacked, competition)
        write_json(unpacked / META_FILE, metadata)
        _replace_dir(unpacked, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def _download(api: KaggleApi, competition: str, archive: Path) -> None:
    """Stream the competition's zip into ``archive``. The adapter retries the request; when the connection breaks
    in the middle of the body, the download starts over, within the same number of retries."""
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    request = ApiDownloadDataFilesRequest()
    request.competition_name = competition
    for attempt in itertools.count(1):
        with api.build_kaggle_client() as kaggle:
            response = kaggle.competitions.competition_api_client.download_data_files(request)
            try:
                _save_body(response, archive)
                return
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
                wait = None if _timed_out(error) else api.http_policy.wait_before_retry(attempt)
                if wait is None:
                    setattr(error, ATTEMPTS, attempt)
                    raise
            finally:
                response.close()
        time.sleep(wait)


def _save_body(response: requests.Response, path: Path) -> None:
    """Write a streamed body to ``path``; fewer bytes than its Content-Length is a broken connection."""
    with path.open("wb") as out:
        for chunk in response.iter_content(chunk_size=1 << 20):
            out.write(chunk)
    announced = response.headers.get("Content-Length")
    if announced and not response.headers.get("Content-Encoding") and path.stat().st_size < int(announced):
        raise requests.exceptions.ChunkedEncodingError(f"the body ended after {path.stat().st_size} of {announced} bytes")


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
    with _kaggle_errors(competition, action, policy), api.build_kaggle_client() as kaggle:
        competitions = kaggle.competitions.competition_api_client
        slot_request = ApiStartSubmissionUploadRequest()
        slot_request.competition_name = competition
        slot_request.file_name = path.name
        slot_request.content_length = path.stat().st_size
        slot_request.last_modified_epoch_seconds = int(path.stat().st_mtime)
        slot = competitions.start_submission_upload(slot_request)
        _upload(path, slot.create_url, policy)
        earlier = {s.ref for s in _list_submissions(api, competition)}
        request = ApiCreateSubmissionRequest()
        request.competition_name = competition
        request.blob_file_tokens = slot.token
        request.submission_description = message
        try:
            created = competitions.create_submission(request)
        except (requests.RequestException, json.JSONDecodeError) as error:
            if not _outcome_unknown(error):
                raise
            return _created_after_all(api, competition, path.name, earlier, _summary(error, policy))
    if not created.ref:
        reason = created.message or "no reason given"
        raise KaggleApiError(f"Kaggle refused the submission of {path.name} to {competition!r}: {reason}")
    return created.ref


def _upload(path: Path, url: str, policy: HttpPolicy) -> None:
    """PUT the file to the upload URL Kaggle gave, without our credentials: the URL carries its own authorization."""
    with patient_session(policy) as session:
        response = session.put(url, data=path.read_bytes())
    if response.status_code not in (200, 201):
        raise requests.HTTPError(f"the upload answered {response.status_code}", response=response)


def _outcome_unknown(error: Exception) -> bool:
    """Whether the server may have acted on a request although we got no success answer."""
    if isinstance(error, requests.HTTPError):
        return error.response is None or error.response.status_code >= 500
    if isinstance(error, requests.ConnectionError) and _never_connected(error):
        return False
    return isinstance(error, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                              json.JSONDecodeError))


def _summary(error: Exception, policy: HttpPolicy) -> str:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        reason = _server_reason(error.response)
        return f"{error.response.status_code}: {reason}" if reason else str(error.response.status_code)
    if _timed_out(error):
        return f"no answer within {policy.timeout:g} s"
    return "the connection broke" if isinstance(error, requests.RequestException) else "an unreadable answer"


def _created_after_all(api: KaggleApi, competition: str, file_name: str, earlier: set[int], what: str) -> int:
    """The ref of the submission of ``file_name`` that is new since ``earlier``; KaggleApiError when there is none."""
    check = f"check `kagglekit submissions {competition}` before submitting {file_name} again"
    try:
        with _kaggle_errors(competition, f"looking for the submission of {file_name}", api.http_policy):
            listed = _list_submissions(api, competition)
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


def _list_submissions(api: KaggleApi, competition: str) -> list[SubmissionStatus]:
    with _kaggle_errors(competition, f"listing the submissions to {competition!r}", api.http_policy):
        submissions = api.competition_submissions(competition)
    return [_to_status(competition, s) for s in submissions or [] if s is not None]


def _submission_status(api: KaggleApi, competition: str, ref: int) -> SubmissionStatus:
    """A new submission can answer 404 for a moment; like the official client's --wait, count that as pending."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

    request = ApiGetSubmissionRequest()
    request.ref = int(ref)
    with _kaggle_errors(competition, f"reading submission {ref} to {competition!r}", getattr(api, "http_policy", None)):
        try:
            with api.build_kaggle_client() as kaggle:
                return _to_status(competition, kaggle.competitions.competition_api_client.get_submission(request))
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
