"""The signed-in Kaggle client that every Kaggle call of kagglekit goes through: credentials, HTTP policy, errors, polls.

The official ``kaggle`` client is imported lazily, without the sign-in that ``kaggle/__init__.py`` does at import
time, and used only after we have found credentials ourselves: ``KaggleApi.authenticate()`` calls ``exit(1)`` when
it finds none.

The kaggle client sets no timeout: a server that stops answering would hang a command forever. Every request of
the client returned by :func:`signed_in_api` goes through an adapter with a timeout and bounded retries (see
:class:`HttpPolicy`): the SDK's calls, its uploads (``upload_complete``) and our downloads. The SDK's own retry
loop (``with_retry``: up to 10 attempts, printing "Request failed") is switched off, so a request is sent at most
``1 + retries`` times, and only requests that are safe to send twice are retried after an ambiguous failure.

Every failure of the client (an HTTP error, no network, an exit, a refusal it reports as a ValueError) becomes a
KaggleApiError through :func:`kaggle_errors`, which names the competition, kernel or dataset and what to do.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from kagglekit.errors import ConfigError, KaggleApiError, KaggleKitError

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

T = TypeVar("T")
Kind = Literal["competition", "kernel", "dataset"]

NO_CREDENTIALS = (
    "no Kaggle credentials: put kaggle.json in ~/.kaggle or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
NEW_TOKEN_URL = "https://www.kaggle.com/settings/api"

TIMEOUT_VARIABLE = "KAGGLEKIT_HTTP_TIMEOUT"
RETRIES_VARIABLE = "KAGGLEKIT_HTTP_RETRIES"
BACKOFF_VARIABLE = "KAGGLEKIT_HTTP_BACKOFF"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# RPCs that only read, or only reserve an upload slot (an unused one expires): sending them twice does no harm.
READ_ONLY_RPC_PREFIXES = ("Get", "List", "Download", "Search", "Introspect")
REPEATABLE_RPCS = frozenset({"StartSubmissionUpload", "StartBlobUpload"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ATTEMPTS = "kagglekit_attempts"  # set on a response or exception: how many times the request was sent
POLL_BACKOFF = 1.5  # each wait between two polls is this much longer than the one before ...
MAX_POLL_SECONDS = 60.0  # ... up to this


# -- the HTTP policy ---------------------------------------------------------------------------------


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
                never_sent = never_connected(error)
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


def never_connected(error: requests.ConnectionError) -> bool:
    """No connection was made (refused, unknown host), so the server saw nothing of the request."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def timed_out(error: BaseException) -> bool:
    """A timeout, also when requests reports one during a streamed body as a ConnectionError."""
    return isinstance(error, requests.Timeout) or any(isinstance(arg, ReadTimeoutError) for arg in error.args)


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


# -- plain URLs: uploads and downloads Kaggle sends us to --------------------------------------------


def put_file(path: Path, url: str, policy: HttpPolicy) -> None:
    """PUT a file to an upload URL Kaggle gave, without our credentials: the URL carries its own authorization.

    The body is read into memory so that a retry sends it whole again.
    """
    with patient_session(policy) as session:
        response = session.put(url, data=Path(path).read_bytes())
    if response.status_code not in (200, 201):
        raise requests.HTTPError(f"the upload answered {response.status_code}", response=response)


@contextmanager
def open_url(url: str, policy: HttpPolicy) -> Iterator[requests.Response]:
    """GET a URL Kaggle gave (a signed storage link), streamed, without our credentials."""
    with patient_session(policy) as session, session.get(url, stream=True) as response:
        response.raise_for_status()
        yield response


def download(path: Path, open_body: Callable[[], AbstractContextManager[requests.Response]], policy: HttpPolicy) -> None:
    """Stream the body ``open_body()`` answers into ``path``.

    The patient session retries the request itself; when the connection breaks in the middle of the body, the
    download starts over, within the same number of retries. A timeout is not retried.
    """
    for attempt in itertools.count(1):
        with open_body() as response:
            try:
                _save_body(response, path)
                return
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
                wait = None if timed_out(error) else policy.wait_before_retry(attempt)
                if wait is None:
                    setattr(error, ATTEMPTS, attempt)
                    raise
        time.sleep(wait)


def _save_body(response: requests.Response, path: Path) -> None:
    """Write a streamed body to ``path``; fewer bytes than its Content-Length is a broken connection."""
    with path.open("wb") as out:
        for chunk in response.iter_content(chunk_size=1 << 20):
            out.write(chunk)
    announced = response.headers.get("Content-Length")
    if announced and not response.headers.get("Content-Encoding") and path.stat().st_size < int(announced):
        raise requests.exceptions.ChunkedEncodingError(f"the body ended after {path.stat().st_size} of {announced} bytes")


# -- polling -----------------------------------------------------------------------------------------


def poll_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout_seconds: float,
    poll_seconds: float,
    still: Callable[[T], str],
) -> T:
    """Call ``read()`` until ``done`` says its result is final, and return that result.

    The first wait between two reads is ``poll_seconds``; each next one is POLL_BACKOFF times longer, up to
    MAX_POLL_SECONDS. After ``timeout_seconds`` raises KaggleApiError(``still(last result)``).
    """
    deadline = time.monotonic() + timeout_seconds
    wait = poll_seconds
    while not done(result := read()):
        if time.monotonic() >= deadline:
            raise KaggleApiError(still(result))
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        wait = min(wait * POLL_BACKOFF, MAX_POLL_SECONDS)
    return result


# -- credentials and sign-in -------------------------------------------------------------------------


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
    """KaggleApi whose every request follows the HTTP policy and KAGGLE_API_ENVIRONMENT; the stock one always talks
    to production, with no timeout, and retries on top of any policy."""
    _register_kaggle_package_without_import_time_sign_in()
    with redirect_stdout(io.StringIO()):  # in case `kaggle` was imported in full already: it may print its login help
        from kaggle.api.kaggle_api_extended import KaggleApi
    from kaggle.models.kaggle_models_extended import ResumableUploadResult
    from kagglesdk import KaggleClient
    from kagglesdk.kaggle_env import get_env

    class PatientKaggleApi(KaggleApi):
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

        def with_retry(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> Callable[..., T]:
            """Off: the patient session already retries what is safe to repeat. The SDK's loop would send up to
            10 more times (dataset creation included) and print "Request failed" on each."""
            return func

        def upload_complete(self, path: str, url: str, quiet: bool, resume: bool = False) -> int:
            """The whole file in one PUT on the patient session. The SDK's own upload uses a bare session (no
            timeout, urllib3 retrying 10 times) and turns any error into a print and another attempt."""
            try:
                put_file(Path(path), url, self.http_policy)
            except requests.HTTPError as e:
                if resume and e.response is not None and e.response.status_code in (404, 410):
                    return ResumableUploadResult.EXPIRED  # an earlier run's upload URL is gone: the SDK asks for a new one
                raise
            return ResumableUploadResult.COMPLETE

    return PatientKaggleApi


def _register_kaggle_package_without_import_time_sign_in() -> None:
    """Make ``import kaggle.api...`` skip kaggle/__init__.py, which signs in with a stock client as it is imported:
    against production whatever KAGGLE_API_ENVIRONMENT says, and with no timeout, so an unreachable or silent
    server would hang the import. We sign in ourselves, through the patient session (see signed_in_api)."""
    if "kaggle" in sys.modules:
        return
    spec = importlib.util.find_spec("kaggle")
    if spec is None:
        raise KaggleApiError("the kaggle package is not installed: pip install kaggle")
    sys.modules["kaggle"] = importlib.util.module_from_spec(spec)  # the package, its __init__ not run


def signed_in_api(*, timeout: float | None = None) -> KaggleApi:
    """A signed-in client whose requests follow :meth:`HttpPolicy.from_environment` (``timeout`` overrides)."""
    if not has_credentials():
        raise KaggleApiError(NO_CREDENTIALS)
    api = _api_class()()
    api.http_policy = HttpPolicy.from_environment(timeout)
    # The client fixes its kaggle.json path when first imported; follow KAGGLE_CONFIG_DIR as it is now.
    api.config_dir, api.config = str(_config_file().parent), str(_config_file())
    # Keep the client's generic login help (printed before it exits) out of our one-line error.
    printed = io.StringIO()
    with kaggle_errors(None, None, "signing in to Kaggle", api.http_policy), redirect_stdout(printed):
        api.authenticate()
    sys.stdout.write(printed.getvalue())  # e.g. its warning that kaggle.json is readable by others
    return api


def username(api: KaggleApi, *, option: str) -> str:
    """The Kaggle username of the signed-in credentials; ``option`` names the flag that passes one by hand."""
    name = api.config_values.get(api.CONFIG_NAME_USER)
    if not name:
        raise KaggleApiError(f"the kaggle client knows no username for these credentials: set KAGGLE_USERNAME or pass {option}")
    return str(name)


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


def split_ref(ref: str, kind: Kind, example: str) -> tuple[str, str]:
    """(OWNER, SLUG) of a kernel or dataset id; anything else is a ConfigError showing ``example``."""
    owner, _, slug = ref.partition("/")
    if not owner or not slug or "/" in slug:
        raise ConfigError(f"{kind} {ref!r} is not OWNER/SLUG, e.g. {example}")
    return owner, slug


# -- errors ------------------------------------------------------------------------------------------


@contextmanager
def kaggle_errors(kind: Kind | None, name: str | None, action: str, policy: HttpPolicy | None = None) -> Iterator[None]:
    """Turn the client's failures into one-line KaggleApiErrors that say what happened and what to do.

    ``kind`` and ``name``: the competition, kernel or dataset the calls inside are about, so that a 403 or a 404
    names it and its fix; ``action``: what was being done ("downloading 'titanic'"); ``policy``: the HTTP policy of
    the calls inside, so that a timeout names its limit.
    """
    try:
        yield
    except requests.HTTPError as e:
        raise _http_error(e.response, kind, name, action) from None
    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        raise _network_error(e, action, policy) from None
    except requests.RequestException as e:
        raise KaggleApiError(f"the request to the Kaggle API at {_host(e)} failed while {action}: {e}") from None
    except json.JSONDecodeError:
        raise KaggleApiError(
            f"the Kaggle API answered with something that is not JSON while {action}: "
            "check your proxy settings and KAGGLE_API_ENVIRONMENT"
        ) from None
    except ValueError as e:  # the client's own checks: bad metadata, a denied kernel, a missing argument
        if isinstance(e, KaggleKitError):
            raise
        raise KaggleApiError(f"the kaggle client refused {action}: {e}") from None
    except SystemExit as e:  # authenticate() exits when none of the credentials it found works
        raise KaggleApiError(
            f"the kaggle client found no working credentials while {action} (it exited with status {e.code}): "
            f"an API token may be invalid or expired; check KAGGLE_API_TOKEN, ~/.kaggle/access_token and kaggle.json, "
            f"or create a new API token at {NEW_TOKEN_URL}"
        ) from None


def _network_error(error: requests.RequestException, action: str, policy: HttpPolicy | None) -> KaggleApiError:
    host = _host(error)
    if timed_out(error):
        limit = f"{policy.timeout:g} s" if policy else "the time limit"
        return KaggleApiError(
            f"no answer from the Kaggle API at {host} within {limit} while {action}: Kaggle may be down or slow; "
            f"retry later, or allow more time with {TIMEOUT_VARIABLE}=SECONDS"
        )
    if isinstance(error, requests.ConnectionError) and never_connected(error):
        return KaggleApiError(
            f"cannot reach the Kaggle API at {host} while {action}{_attempts(error)}: check your network connection "
            "(and proxy settings), then retry"
        )
    return KaggleApiError(
        f"the connection to the Kaggle API at {host} broke while {action}{_attempts(error)}: check your network "
        "connection, then retry"
    )


def _attempts(obj: object) -> str:
    attempts = getattr(obj, ATTEMPTS, 1)
    return f" ({attempts} attempts)" if attempts > 1 else ""


def _http_error(response: requests.Response | None, kind: Kind | None, name: str | None, action: str) -> KaggleApiError:
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
        elsewhere = "; if it keeps failing, download it from the competition's Data page" if kind == "competition" else ""
        return KaggleApiError(
            f"the file Kaggle sent us to for {repr(name) if name else 'this request'} is not there{detail} while {action}: "
            f"download links expire, so retry{elsewhere}"
        )
    refused = _refusal(kind, name, status, detail, action) if name else None
    if refused is not None:
        return refused
    if status == 429:
        asked = _retry_after(response) if response is not None else None
        wait = f"wait {math.ceil(asked):d} s as Kaggle asks" if asked is not None else "wait a few minutes"
        return KaggleApiError(f"Kaggle is limiting the rate of requests{detail} while {action}{tried}: {wait}, then retry")
    if status is not None and status >= 500:
        return KaggleApiError(
            f"the Kaggle API failed{detail} while {action}{tried}: the trouble is on Kaggle's side; retry in a few minutes"
        )
    return KaggleApiError(f"the Kaggle API failed{detail} while {action}")


def _refusal(kind: Kind | None, name: str | None, status: int | None, detail: str, action: str) -> KaggleApiError | None:
    """A 403 or 404 about a competition, kernel or dataset: what it means for that kind of object, and the fix."""
    messages: dict[tuple[Kind | None, int | None], str] = {
        ("competition", 403): f"Kaggle refused access to competition {name!r}{detail} while {action}: accept its rules at "
                              f"https://www.kaggle.com/competitions/{name}/rules with the account of your API credentials, then retry",
        ("competition", 404): f"Kaggle has no competition {name!r}{detail} while {action}: check the name in its URL, "
                              "https://www.kaggle.com/competitions/NAME",
        ("kernel", 403): f"Kaggle refused access to kernel {name} (403) while {action}: it belongs to another account or is "
                         "private to it; use a kernel id under your own username",
        ("kernel", 404): f"Kaggle has no kernel {name} (404) while {action}: check OWNER/SLUG (kaggle.com/code/OWNER/SLUG), "
                         "the version, or push it first with `kagglekit kernel push`",
        ("dataset", 403): f"Kaggle refused access to dataset {name} (403) while {action}: you can only version your own "
                          "datasets; pass --dataset YOUR_NAME/SLUG",
    }
    message = messages.get((kind, status))
    return KaggleApiError(message) if message else None


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


def outcome_unknown(error: Exception) -> bool:
    """Whether the server may have acted on a request although we got no success answer."""
    if isinstance(error, requests.HTTPError):
        return error.response is None or error.response.status_code >= 500
    if isinstance(error, requests.ConnectionError) and never_connected(error):
        return False
    return isinstance(error, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                              json.JSONDecodeError))


def failure_summary(error: Exception, policy: HttpPolicy) -> str:
    """A few words on how a request failed, e.g. "503: Service Unavailable" or "no answer within 60 s"."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        reason = _server_reason(error.response)
        return f"{error.response.status_code}: {reason}" if reason else str(error.response.status_code)
    if timed_out(error):
        return f"no answer within {policy.timeout:g} s"
    return "the connection broke" if isinstance(error, requests.RequestException) else "an unreadable answer"
