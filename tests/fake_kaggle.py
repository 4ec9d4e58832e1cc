"""A fake Kaggle API on localhost:7777, where the real kaggle 2.x client goes with KAGGLE_API_ENVIRONMENT=TEST.

The client posts JSON to ``/api/v1/<service>/<method>``. This server answers the calls behind kagglekit's
fetch, submit and submissions: GetCompetition, DownloadDataFiles (a redirect to a zip it serves itself),
StartSubmissionUpload (an upload URL on this server), the PUT upload, CreateSubmission, GetSubmission,
ListSubmissions, and IntrospectToken for API-token sign-in. Anything else gets a 501 naming the path.

It can also misbehave, as the real one does now and then: ``add_fault`` makes chosen requests hang, fail with a
status (429 with or without Retry-After, 5xx), lose their answer after doing their work, or have their answer cut
off halfway by a connection reset; ``calls_before_expiry`` answers 401 once that many more calls have been made.
"""

from __future__ import annotations

import base64
import fcntl
import io
import itertools
import json
import os
import socket
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kagglekit import config

PORT = 7777  # fixed by kagglesdk for KaggleEnv.TEST
BASE_URL = f"http://localhost:{PORT}"
# Distinctive, so that tests/test_secrets.py can look for them in everything kagglekit writes and prints.
USERNAME, KEY, TOKEN = "kagglekit-tester", "kgk-secret-key-5f3c9a7e41", "kgk-secret-token-8d1e2b4f07"
API = "/api/v1/"
PORT_LOCK = Path("/tmp/kagglekit-fake-kaggle-7777.lock")  # one fake server at a time on this machine
DAILY_LIMIT_MESSAGE = "Your team has used its daily Submission allowance (5) today, please try again tomorrow UTC."


def zip_bytes(files: dict[str, str]) -> bytes:
    """A zip archive of text files, as Kaggle serves a competition's data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@dataclass
class FakeCompetition:
    """One competition and how the fake server treats it."""

    slug: str
    archive: bytes  # served as the download of all files: a zip, or anything else to test a corrupt one
    evaluation_metric: str = "F1Score"
    rules_accepted: bool = True  # False: 403 on download and submit
    daily_limit_reached: bool = False  # CreateSubmission answers 200 without a ref, as refusals do
    scoring_error: str | None = None  # the submission ends in ERROR with this description
    public_score: str = "0.78455"
    pending_reads: int = 1  # reads of a new submission answered PENDING before its verdict
    unreadable_reads: int = 0  # GetSubmission reads answered 404 first, as just after creation


@dataclass
class Upload:
    """A file the client PUT to an upload URL."""

    token: str
    file_name: str
    content: bytes | None = None


@dataclass
class FakeSubmission:
    ref: int
    competition: str
    file_name: str
    description: str
    date: datetime
    reads: int = 0
    public_score: str | None = None  # this submission's scores once scored; default: its competition's public_score
    private_score: str | None = None


class Misbehaviour(Enum):
    HANG = "hang"  # never answer (until the server stops); the request is not handled
    ERROR = "error"  # answer the fault's status and headers instead of handling the request
    ERROR_AFTER = "error_after"  # handle the request (e.g. create the submission), then answer the status instead
    RESET_AFTER = "reset_after"  # handle the request, then reset the connection without an answer
    CUT = "cut"  # send the status, headers and half the body of the real answer, then reset the connection (a body it has)


@dataclass
class Fault:
    """How the server misbehaves for the requests to ``target``: an RPC name ("CreateSubmission") or a path prefix
    ("/storage/"). The first ``times`` matching requests misbehave; later ones are answered normally."""

    target: str
    kind: Misbehaviour
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def matches(self, path: str) -> bool:
        return self.times > 0 and (path.endswith(f"/{self.target}") or path.startswith(self.target))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def _error(status: int, message: str) -> Reply:
    return _json(status, {"code": status, "message": message})


class FakeKaggle:
    """The server's state: configure competitions, then inspect calls, uploads and submissions."""

    def __init__(self) -> None:
        self.competitions: dict[str, FakeCompetition] = {}
        self.calls: list[str] = []  # "METHOD /path" of every request, in order
        self.uploads: dict[str, Upload] = {}  # by upload token
        self.submissions: list[FakeSubmission] = []
        self._refs = itertools.count(1001)
        self._lock = threading.Lock()
        # Extra RPC services by name (e.g. "kernels.KernelsApiService"): handler(method, request) -> Reply.
        self.services: dict[str, Callable[[str, dict], Reply]] = {}
        self.blobs: dict[str, bytes] = {}  # served at GET /blobs/NAME, e.g. a kernel's output files
        self.faults: list[Fault] = []
        self.calls_before_expiry: int | None = None  # authorized RPC calls still answered before credentials expire (401)
        self._stopping = threading.Event()  # releases the requests left hanging
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port_lock: io.TextIOWrapper | None = None

    def add_competition(self, slug: str, archive: bytes, **options: object) -> FakeCompetition:
        competition = FakeCompetition(slug, archive, **options)  # type: ignore[arg-type]
        self.competitions[slug] = competition
        return competition

    def add_fault(self, target: str, kind: Misbehaviour | str, *, status: int = 503,
                  headers: dict[str, str] | None = None, times: int = 1) -> Fault:
        """Make the next ``times`` requests to ``target`` misbehave (see Misbehaviour)."""
        fault = Fault(target, Misbehaviour(kind), status, headers or {}, times)
        self.faults.append(fault)
        return fault

    def count(self, method: str) -> int:
        """How many times an API method (e.g. "DownloadDataFiles") was called."""
        return sum(call.endswith(f"/{method}") for call in self.calls)

    def start(self) -> None:
        # The client's TEST environment is fixed to port 7777, so concurrent test processes take turns.
        self._port_lock = PORT_LOCK.open("w")
        fcntl.flock(self._port_lock, fcntl.LOCK_EX)
        self._stopping.clear()
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", PORT), _Handler)
        except OSError as e:
            pytest.fail(
                f"cannot start the fake Kaggle server on port {PORT} ({e}): the kaggle client's TEST environment "
                f"is fixed to {BASE_URL}; stop whatever listens there"
            )
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._port_lock is not None:
            self._port_lock.close()  # releases the flock
            self._port_lock = None

    # -- request handling (called from the server's threads) -------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, if any, counted as used; a request it keeps from being handled is recorded here."""
        with self._lock:
            fault = next((f for f in self.faults if f.matches(path)), None)
            if fault is None:
                return None
            fault.times -= 1
            if fault.kind in (Misbehaviour.HANG, Misbehaviour.ERROR):
                self.calls.append(f"{method} {path}")
            return fault

    def hang(self) -> None:
        self._stopping.wait()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.calls.append(f"{method} {path}")
            if method == "POST" and path.startswith(API):
                return self._rpc(path[len(API):], headers.get("authorization", ""), json.loads(body or b"{}"))
            if method == "GET" and path.startswith("/storage/") and path.endswith(".zip"):
                competition = self.competitions.get(path[len("/storage/"):-len(".zip")])
                if competition is None:
                    return _error(404, "no such object")
                return Reply(200, competition.archive, {"Content-Type": "application/zip"})
            if method == "GET" and path.startswith("/blobs/"):
                blob = self.blobs.get(path[len("/blobs/"):])
                return _error(404, "no such object") if blob is None else Reply(200, blob, {"Content-Type": "application/octet-stream"})
            if method == "PUT" and path.startswith("/upload/"):
                upload = self.uploads.get(path[len("/upload/"):])
                if upload is None:
                    return _error(404, "upload URL expired")
                upload.content = body
                return Reply(200)
            return _error(501, f"the fake Kaggle server does not implement {method} {path}")

    def _rpc(self, name: str, authorization: str, request: dict) -> Reply:
        if name == "security.OAuthService/IntrospectToken":
            active = request.get("token") == TOKEN
            return _json(200, {"active": active, "username": USERNAME if active else ""})
        if not self._authorized(authorization):
            return _error(401, "Unauthenticated")
        if self.calls_before_expiry is not None:
            if self.calls_before_expiry <= 0:
                return _error(401, "Unauthenticated: the access token has expired")
            self.calls_before_expiry -= 1
        handlers = {
            "GetCompetition": self._get_competition,
            "DownloadDataFiles": self._download_data_files,
            "StartSubmissionUpload": self._start_submission_upload,
            "CreateSubmission": self._create_submission,
            "GetSubmission": self._get_submission,
            "ListSubmissions": self._list_submissions,
        }
        service, _, method = name.partition("/")
        if service in self.services:
            return self.services[service](method, request)
        if service != "competitions.CompetitionApiService" or method not in handlers:
            return _error(501, f"the fake Kaggle server does not implement {API}{name}")
        if method != "GetSubmission" and request.get("competitionName") not in self.competitions:
            return _error(404, "Competition not found")
        return handlers[method](request)

    def _authorized(self, authorization: str) -> bool:
        kind, _, credentials = authorization.partition(" ")
        if kind == "Basic":
            return base64.b64decode(credentials).decode() == f"{USERNAME}:{KEY}"
        return kind == "Bearer" and credentials == TOKEN

    def _get_competition(self, request: dict) -> Reply:
        competition = self.competitions[request["competitionName"]]
        return _json(200, {
            "id": 17777,
            "ref": f"https://www.kaggle.com/competitions/{competition.slug}",
            "title": competition.slug.replace("-", " ").title(),
            "evaluationMetric": competition.evaluation_metric,
            "maxDailySubmissions": 5,
            "deadline": "2030-01-01T23:59:00Z",
        })

    def _download_data_files(self, request: dict) -> Reply:
        competition = self.competitions[request["competitionName"]]
        if not competition.rules_accepted:
            return _error(403, "You must accept this competition's rules before you'll be able to download files.")
        return Reply(302, headers={"Location": f"{BASE_URL}/storage/{competition.slug}.zip"})

    def _start_submission_upload(self, request: dict) -> Reply:
        competition = self.competitions[request["competitionName"]]
        if not competition.rules_accepted:
            return _error(403, "You must accept this competition's rules before you can submit.")
        token = f"blob-{len(self.uploads) + 1}"
        self.uploads[token] = Upload(token, request.get("fileName", ""))
        return _json(200, {"token": token, "createUrl": f"{BASE_URL}/upload/{token}"})

    def _create_submission(self, request: dict) -> Reply:
        competition = self.competitions[request["competitionName"]]
        upload = self.uploads.get(request.get("blobFileTokens", ""))
        if upload is None or upload.content is None:
            return _error(400, "No uploaded file for this submission")
        if competition.daily_limit_reached:
            return _json(200, {"message": DAILY_LIMIT_MESSAGE})
        submission = FakeSubmission(
            next(self._refs), competition.slug, upload.file_name, request.get("submissionDescription", ""),
            datetime.now(timezone.utc).replace(tzinfo=None),
        )
        self.submissions.append(submission)
        return _json(200, {"message": "Successfully submitted", "ref": submission.ref})

    def _get_submission(self, request: dict) -> Reply:
        for submission in self.submissions:
            if submission.ref == request.get("ref"):
                competition = self.competitions[submission.competition]
                if competition.unreadable_reads > 0:
                    competition.unreadable_reads -= 1
                    return _error(404, "Submission not found")
                return _json(200, self._read(submission))
        return _error(404, "Submission not found")

    def _list_submissions(self, request: dict) -> Reply:
        mine = [s for s in reversed(self.submissions) if s.competition == request["competitionName"]]
        return _json(200, {"submissions": [self._read(s) for s in mine]})

    def _read(self, submission: FakeSubmission) -> dict:
        """The submission as the API returns it; each read brings it closer to its verdict."""
        competition = self.competitions[submission.competition]
        submission.reads += 1
        item = {
            "ref": submission.ref,
            "date": submission.date.isoformat(timespec="milliseconds") + "Z",
            "description": submission.description,
            "fileName": submission.file_name,
            "status": "PENDING",
            "submittedBy": USERNAME,
        }
        if submission.reads > competition.pending_reads:
            if competition.scoring_error:
                item.update(status="ERROR", errorDescription=competition.scoring_error)
            else:
                item.update(status="COMPLETE", publicScore=submission.public_score or competition.public_score,
                            privateScore=submission.private_score or "")
        return item


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        fake: FakeKaggle = self.server.fake  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault = fake.take_fault(self.command, self.path)
        if fault is not None and fault.kind is Misbehaviour.HANG:
            fake.hang()
            self.close_connection = True
            return
        if fault is not None and fault.kind is Misbehaviour.ERROR:
            self._send(_fault_reply(fault))
            return
        reply = fake.handle(self.command, self.path, headers, body)
        if fault is None:
            self._send(reply)
        elif fault.kind is Misbehaviour.ERROR_AFTER:
            self._send(_fault_reply(fault))
        elif fault.kind is Misbehaviour.RESET_AFTER:
            self._reset()
        else:  # CUT
            self._send(reply, cut_at=len(reply.body) // 2)
            self._reset()

    def _send(self, reply: Reply, cut_at: int | None = None) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body[:cut_at])

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, as a failing proxy or server does."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def _fault_reply(fault: Fault) -> Reply:
    reply = _error(fault.status, f"fault injected by the test: {fault.status}")
    reply.headers.update(fault.headers)
    return reply


@pytest.fixture
def no_server() -> Iterator[None]:
    """Port 7777 with nothing listening: holds the port lock, so that no other test process starts a fake server."""
    with PORT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def fake_kaggle() -> Iterator[FakeKaggle]:
    """The fake Kaggle server, running on localhost:7777 for one test."""
    fake = FakeKaggle()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def kaggle_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the kaggle client at the fake server with test credentials, away from any real ~/.kaggle.

    Returns the fake home folder. Also makes the test run as outside a Kaggle notebook on any machine,
    with tiny retry waits.
    """
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("KAGGLE_", "KAGGLEKIT_HTTP_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    # Retries wait milliseconds, not seconds; a request the server never answers fails in seconds, not a minute.
    monkeypatch.setenv("KAGGLEKIT_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", "20")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setattr(config, "KAGGLE_INPUT", home / "no-kaggle-input")
    monkeypatch.setattr(config, "KAGGLE_WORKING", home / "no-kaggle-working")
    return home
