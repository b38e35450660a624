"""The subset of a Bluesky PDS's XRPC API that Beffroi's connector uses, with the PDS's shapes and error names.

For what a real local PDS cannot be made to do (429, 5xx, answers lost after the commit) and for the worker's
end-to-end tests; everything else is tested against a real PDS (beffroi/networks/bluesky/tests).

Fidelity notes:
- Sessions: createSession takes any password except revoked ones (`revoked-…` or listed in `revoked_tokens`);
  tokens are JWT-shaped (unsigned) with `exp`, so expiry is visible to clients. An expired access token is answered
  400 ExpiredToken, an unknown one 400 InvalidToken, a refresh token used as access token 400 InvalidToken.
- createRecord/applyWrites with a record key already taken answer 500 InternalServerError, as PDS 0.5 does.
- uploadBlob refuses blobs over 1,000,000 bytes with 400 BlobTooLarge (the post embed's limit).
- Rate limits: writes per DID in fixed windows, 429 RateLimitExceeded with ratelimit-* headers (reset in epoch
  seconds), as Bluesky's PDS sends them.
- Faults (`error_rate`, `timeout_after_commit_rate`, `drop_after_commit_rate`) apply to record writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from beffroi.simulator.server import Handler, Network, PostRecord, Request, Response, json_response

ACCESS_TTL_S = 2 * 3600
REFRESH_TTL_S = 90 * 86400
MAX_BLOB_BYTES = 1_000_000
MAX_TEXT_BYTES = 3000
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def xrpc_error(status: int, name: str, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response({"error": name, "message": message}, status, headers or [])


def did_for(handle: str) -> str:
    digest = hashlib.sha256(handle.encode()).digest()
    return "did:plc:" + "".join(_B32[b % 32] for b in digest[:24])


def cid_for(data: bytes, prefix: str = "bafyrei") -> str:
    digest = hashlib.sha256(data).digest()
    return prefix + "".join(_B32[b % 32] for b in digest[:26])


def tid_now(last: int) -> tuple[str, int]:
    micros = max(int(time.time() * 1_000_000), last + 1)
    value = micros << 10
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13)), micros


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def make_token(scope: str, did: str, handle: str, ttl_s: float, serial: int) -> str:
    now = int(time.time())
    payload = {"scope": scope, "sub": did, "handle": handle, "iat": now, "exp": now + int(ttl_s), "jti": serial}
    return f"{_b64({'typ': 'at+jwt', 'alg': 'none'})}.{_b64(payload)}.sim"


def read_token(token: str) -> dict[str, Any] | None:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None


@dataclass(slots=True)
class Account:
    did: str
    handle: str
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (collection, rkey) → record


class BlueskyNetwork(Network):
    name = "bluesky"

    def __init__(self, simulator: Any) -> None:
        super().__init__(simulator)
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}  # by DID
        self.by_handle: dict[str, Account] = {}
        self.blobs: dict[str, int] = {}
        self.windows: dict[str, list[int]] = {}  # DID → [window number, writes in it]
        self.refreshed: set[str] = set()  # refresh tokens already used
        self.serial = 0
        self.last_tid = 0
        self.sessions_created = 0

    def stats(self) -> dict[str, Any]:
        return {"accounts": len(self.accounts), "sessions_created": self.sessions_created}

    def routes(self) -> list[tuple[str, str, Handler]]:
        prefix = "/xrpc/com.atproto."
        return [
            ("POST", prefix + "server.createSession", self.create_session),
            ("POST", prefix + "server.refreshSession", self.refresh_session),
            ("GET", prefix + "identity.resolveHandle", self.resolve_handle),
            ("POST", prefix + "repo.uploadBlob", self.upload_blob),
            ("POST", prefix + "repo.createRecord", self.create_record),
            ("POST", prefix + "repo.applyWrites", self.apply_writes),
            ("GET", prefix + "repo.getRecord", self.get_record),
            ("GET", prefix + "repo.listRecords", self.list_records),
            ("POST", prefix + "repo.deleteRecord", self.delete_record),
        ]

    # Accounts and sessions ---------------------------------------------------------------------------------

    def account_for(self, request: Request) -> str | None:
        token = request.bearer_token()
        if token:
            claims = read_token(token)
            return str(claims.get("handle")) if claims else None
        if request.path.endswith("createSession"):
            try:
                return str(json.loads(request.body or b"{}").get("identifier") or "") or None
            except ValueError:
                return None
        return None

    def account(self, handle: str) -> Account:
        handle = handle.lower().removeprefix("@")
        account = self.by_handle.get(handle)
        if account is None:
            account = Account(did_for(handle), handle)
            self.by_handle[handle] = account
            self.accounts[account.did] = account
        return account

    def _session(self, account: Account) -> dict[str, Any]:
        self.serial += 1
        return {
            "accessJwt": make_token("com.atproto.appPass", account.did, account.handle, ACCESS_TTL_S, self.serial),
            "refreshJwt": make_token("com.atproto.refresh", account.did, account.handle, REFRESH_TTL_S, self.serial),
            "handle": account.handle,
            "did": account.did,
            "active": True,
        }

    def _revoked(self, secret: str) -> bool:
        return secret.startswith("revoked-") or secret in self.simulator.knobs.revoked_tokens

    def create_session(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "Invalid JSON body")
        identifier, password = str(body.get("identifier") or ""), str(body.get("password") or "")
        if not identifier or not password:
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "identifier"')
        if self._revoked(password):
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        account = self.accounts.get(identifier) or self.account(identifier)
        self.sessions_created += 1
        return json_response(self._session(account))

    def _authenticate(self, request: Request, scope: str = "access") -> Account | Response:
        token = request.bearer_token()
        if token is None:
            return xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        claims = read_token(token)
        if claims is None or self._revoked(token):
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        is_refresh = claims.get("scope") == "com.atproto.refresh"
        if is_refresh != (scope == "refresh"):
            return xrpc_error(400, "InvalidToken", "Bad token scope")
        if float(claims.get("exp") or 0) < time.time():
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return self.account(str(claims.get("handle") or ""))

    def refresh_session(self, request: Request) -> Response:
        account = self._authenticate(request, scope="refresh")
        if isinstance(account, Response):
            return account
        token = request.bearer_token() or ""
        if token in self.refreshed:
            return xrpc_error(400, "ExpiredToken", "Token has been revoked")
        self.refreshed.add(token)
        return json_response(self._session(account))

    def resolve_handle(self, request: Request) -> Response:
        handle = (request.query("handle") or "").lower()
        account = self.by_handle.get(handle)
        if account is None:
            return xrpc_error(400, "HandleNotFound", "Unable to resolve handle")
        return json_response({"did": account.did})

    # Writes --------------------------------------------------------------------------------------------------

    def _rate_limit(self, request: Request, account: Account) -> Response | None:
        knobs = request.knobs
        if knobs is None or knobs.rate_limit is None:
            return None
        now = time.time()
        window = int(now // knobs.rate_window_s)
        entry = self.windows.get(account.did)
        if entry is None or entry[0] != window:
            entry = self.windows[account.did] = [window, 0]
        entry[1] += 1
        reset_at = int((window + 1) * knobs.rate_window_s)
        if entry[1] <= knobs.rate_limit:
            return None
        self.simulator.inject("rate_limited")
        headers = [
            ("ratelimit-limit", str(knobs.rate_limit)),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", str(reset_at)),
            ("ratelimit-policy", f"{knobs.rate_limit};w={int(knobs.rate_window_s)}"),
        ]
        return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)

    def _writer(self, request: Request) -> tuple[Account | None, dict[str, Any], Response | None]:
        account = self._authenticate(request)
        if isinstance(account, Response):
            return None, {}, account
        limited = self._rate_limit(request, account)
        if limited is not None:
            return None, {}, limited
        try:
            body = request.json() or {}
        except ValueError:
            return None, {}, xrpc_error(400, "InvalidRequest", "Invalid JSON body")
        if "repo" in body and body["repo"] not in (account.did, account.handle):
            return None, {}, xrpc_error(400, "InvalidRequest", "Input/repo must be the authenticated account")
        return account, body, None

    def upload_blob(self, request: Request) -> Response:
        account = self._authenticate(request)
        if isinstance(account, Response):
            return account
        size = len(request.body)
        if size > MAX_BLOB_BYTES:
            return xrpc_error(
                400,
                "BlobTooLarge",
                f"This file is too large. It is {size} bytes but the maximum size is {MAX_BLOB_BYTES} bytes.",
            )
        mime_type = request.headers.get("content-type", "application/octet-stream")
        cid = cid_for(request.body, "bafkrei")
        self.blobs[cid] = size
        return json_response({"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": size}})

    def _check_record(self, collection: str, record: Any) -> str | None:
        """Why the record is invalid, or None."""
        if not isinstance(record, dict):
            return "Invalid record: must be an object"
        if "createdAt" not in record:
            return f'Invalid {collection} record: Missing required key "createdAt" at $.record'
        if collection == "app.bsky.feed.post":
            text = record.get("text")
            if not isinstance(text, str):
                return f'Invalid {collection} record: Missing required key "text" at $.record'
            if len(text.encode()) > MAX_TEXT_BYTES:
                return f"Invalid {collection} record: Record/text must not be longer than 3000 characters"
            for image in (record.get("embed") or {}).get("images") or []:
                link = ((image.get("image") or {}).get("ref") or {}).get("$link")
                if link not in self.blobs:
                    return f"Could not find blob: {link}"
        return None

    def _commit(self, request: Request, account: Account, creates: list[tuple[str, str | None, Any]]) -> Response:
        """Stores the records (all or none) and answers, with the faults the knobs ask for."""
        knobs = request.knobs
        assert knobs is not None
        simulator = self.simulator
        # An overloaded proxy answers before the PDS sees anything: nothing is stored.
        if simulator.chance(knobs.error_rate):
            simulator.inject("error")
            return xrpc_error(503, "InternalServerError", "Service Unavailable")
        prepared = []
        for collection, rkey, record in creates:
            problem = self._check_record(collection, record)
            if problem:
                return xrpc_error(400, "InvalidRequest", problem)
            if rkey is None:
                rkey, self.last_tid = tid_now(self.last_tid)
            if (collection, rkey) in account.records or any(p[:2] == (collection, rkey) for p in prepared):
                # What PDS 0.5 answers when the record key is taken.
                return xrpc_error(500, "InternalServerError", "Internal Server Error")
            prepared.append((collection, rkey, record))
        results = []
        roll = simulator.random.random()
        fault = None
        if roll < knobs.drop_after_commit_rate:
            fault = "drop"
        elif roll < knobs.drop_after_commit_rate + knobs.timeout_after_commit_rate:
            fault = "stall"
        for collection, rkey, record in prepared:
            uri = f"at://{account.did}/{collection}/{rkey}"
            cid = cid_for(json.dumps(record, sort_keys=True).encode())
            account.records[(collection, rkey)] = {"uri": uri, "cid": cid, "value": record}
            results.append({"uri": uri, "cid": cid})
            if collection == "app.bsky.feed.post":
                simulator.record_post(
                    PostRecord(
                        id=uri,
                        network=self.name,
                        account=account.handle,
                        account_id=account.did,
                        text=str(record.get("text") or ""),
                        idempotency_key=rkey,
                        received_at=request.received_at,
                        created_at=time.time(),
                        url=f"https://bsky.app/profile/{account.handle}/post/{rkey}",
                        fault=fault,
                        extra={"record": record},
                    )
                )
        if fault == "drop":
            simulator.inject("drop")
            return Response(drop=True)
        commit = {"cid": cid_for(repr(results).encode()), "rev": tid_now(self.last_tid)[0]}
        if request.path.endswith("applyWrites"):
            body: dict[str, Any] = {
                "commit": commit,
                "results": [
                    {**result, "validationStatus": "valid", "$type": "com.atproto.repo.applyWrites#createResult"}
                    for result in results
                ],
            }
        else:
            body = {**results[0], "commit": commit, "validationStatus": "valid"}
        response = json_response(body)
        if fault == "stall":
            simulator.inject("stall")
            response.stall_s = knobs.stall_s
        return response

    def create_record(self, request: Request) -> Response:
        account, body, early = self._writer(request)
        if early is not None:
            return early
        assert account is not None
        collection = str(body.get("collection") or "")
        if not collection:
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "collection"')
        rkey = body.get("rkey")
        return self._commit(request, account, [(collection, str(rkey) if rkey else None, body.get("record"))])

    def apply_writes(self, request: Request) -> Response:
        account, body, early = self._writer(request)
        if early is not None:
            return early
        assert account is not None
        creates = []
        for write in body.get("writes") or []:
            if write.get("$type") != "com.atproto.repo.applyWrites#create":
                return xrpc_error(400, "InvalidRequest", "The simulator only takes creates in applyWrites")
            rkey = write.get("rkey")
            creates.append((str(write.get("collection") or ""), str(rkey) if rkey else None, write.get("value")))
        if not creates:
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "writes"')
        return self._commit(request, account, creates)

    def delete_record(self, request: Request) -> Response:
        account, body, early = self._writer(request)
        if early is not None:
            return early
        assert account is not None
        collection, rkey = str(body.get("collection") or ""), str(body.get("rkey") or "")
        stored = account.records.pop((collection, rkey), None)
        if stored is not None and collection == "app.bsky.feed.post":
            record = self.simulator.record_for(self.name, stored["uri"])
            if record is not None:
                record.deleted = True
                record.deleted_at = time.time()
        # Deleting a record that is not there is not an error.
        return json_response({"commit": {"cid": cid_for(rkey.encode()), "rev": tid_now(self.last_tid)[0]}})

    # Reads ---------------------------------------------------------------------------------------------------

    def get_record(self, request: Request) -> Response:
        repo, collection, rkey = (request.query(name) or "" for name in ("repo", "collection", "rkey"))
        account = self.accounts.get(repo) or self.by_handle.get(repo.lower())
        stored = account.records.get((collection, rkey)) if account else None
        if stored is None:
            uri = f"at://{repo}/{collection}/{rkey}"
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return json_response(stored)

    def list_records(self, request: Request) -> Response:
        repo, collection = request.query("repo") or "", request.query("collection") or ""
        account = self.accounts.get(repo) or self.by_handle.get(repo.lower())
        if account is None:
            return xrpc_error(400, "InvalidRequest", f"Could not find repo: {repo}")
        try:
            limit = max(1, min(100, int(request.query("limit") or 50)))
        except ValueError:
            limit = 50
        cursor = request.query("cursor")
        keys = sorted((rkey for (coll, rkey) in account.records if coll == collection), reverse=True)
        if cursor:
            keys = [key for key in keys if key < cursor]
        page = keys[:limit]
        body: dict[str, Any] = {"records": [account.records[(collection, key)] for key in page]}
        if len(page) == limit:
            body["cursor"] = page[-1]
        return json_response(body)
