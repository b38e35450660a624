"""atproto OAuth for Bluesky: discovery, PAR with PKCE, DPoP-bound tokens, refresh, signed resource requests.

The flow (https://atproto.com/specs/oauth), as the PDS's @atproto/oauth-provider implements it:

1. The handle resolves to a DID, the DID document to the account's PDS; the PDS's
   `/.well-known/oauth-protected-resource` names its authorization server, whose
   `/.well-known/oauth-authorization-server` gives the endpoints (its `issuer` must be that server).
2. A pushed authorization request (PAR) with PKCE S256 and a DPoP proof; the person is sent to the authorization
   endpoint with the `request_uri` it returned.
3. Back on the callback (`code`, `state`, `iss`): the code is exchanged for a DPoP-bound access token and a refresh
   token; the token's `sub` must be the DID resolved at the start, `iss` the server we asked.
4. Resource calls to the PDS send `Authorization: DPoP <token>` and a proof with `ath`; the refresh grant is DPoP
   bound too (the same key for the life of the session, so it is stored with the channel's credentials).

Every DPoP endpoint may ask for a server nonce (`use_dpop_nonce` + `DPoP-Nonce` header): the request is signed again
with it, once.

The client: in production the `client_id` is the address of the JSON document Beffroi serves
(`/oauth/bluesky/client-metadata.json`, built by `client_metadata()`); when Beffroi runs on a loopback address
(development, tests) it is an atproto *loopback client* (`http://localhost?redirect_uri=…&scope=…`, no document).
Both are public clients (no client authentication): the PDS limits their sessions (two weeks on the reference PDS).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings

SCOPE = "atproto transition:generic"
DEFAULT_PLC_URL = "https://plc.directory"
METADATA_PATH = "/oauth/bluesky/client-metadata.json"
# What the reference PDS gives public clients: a refresh token lives 2 weeks (each refresh starts it again), the
# whole session at most 2 weeks. Tokens do not say it; this is only used to warn before the end.
PUBLIC_CLIENT_SESSION = timedelta(days=14)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})


class OAuthError(Exception):
    """An OAuth exchange failed: `error` is the server's error code (or ours), `status` its HTTP status."""

    def __init__(self, error: str, description: str = "", *, status: int | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


# --------------------------------------------------------------------------------------------------------------
# Keys, proofs, PKCE
# --------------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_dpop_key() -> dict[str, str]:
    """A new EC P-256 key for one session's DPoP proofs, as a private JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.private_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.public_numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.public_numbers.y.to_bytes(32, "big")),
        "d": _b64(numbers.private_value.to_bytes(32, "big")),
    }


def public_jwk(jwk: dict[str, str]) -> dict[str, str]:
    return {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]}


def _private_key(jwk: dict[str, str]) -> ec.EllipticCurvePrivateKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not an EC P-256 JWK")
    return ec.derive_private_key(int.from_bytes(_unb64(jwk["d"]), "big"), ec.SECP256R1())


def sign_jwt(jwk: dict[str, str], header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS signed with ES256 (raw r||s signature, as JWA wants)."""
    signing_input = (
        _b64(json.dumps({"alg": "ES256", **header}, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(_private_key(jwk).sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def token_hash(token: str) -> str:
    """The `ath` claim: base64url SHA-256 of the access token."""
    return _b64(hashlib.sha256(token.encode("ascii")).digest())


def dpop_proof(
    jwk: dict[str, str], method: str, url: str, *, nonce: str | None = None, access_token: str | None = None
) -> str:
    """A DPoP proof for one request (RFC 9449): `htu` is the URL without query and fragment."""
    parts = urlsplit(url)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = token_hash(access_token)
    return sign_jwt(jwk, {"typ": "dpop+jwt", "jwk": public_jwk(jwk)}, claims)


# --------------------------------------------------------------------------------------------------------------
# DPoP requests with nonce retry (sync for connecting, async for publishing)
# --------------------------------------------------------------------------------------------------------------


def error_of(response: httpx.Response) -> tuple[str, str]:
    """(OAuth error code, description) of an answer: from its JSON body or its WWW-Authenticate header."""
    error = description = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or body.get("message") or "")
    challenge = response.headers.get("www-authenticate", "")
    if challenge.lower().startswith("dpop"):
        for item in challenge[4:].split(","):
            name, _, value = item.strip().partition("=")
            if name == "error" and value:
                # The header's code is the OAuth one ("invalid_token"); the body may hold an XRPC name.
                return value.strip('"'), description or error
    return error, description


def needs_nonce(response: httpx.Response) -> bool:
    return response.status_code in (400, 401) and error_of(response)[0] == "use_dpop_nonce"


def is_invalid_token(response: httpx.Response) -> bool:
    """A resource server's "this access token no longer works" (expired, revoked, unknown)."""
    return response.status_code == 401 and error_of(response)[0] in ("invalid_token", "InvalidToken", "ExpiredToken")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class NonceStore:
    """The last DPoP nonce each server gave (servers rotate them every few minutes)."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._nonces: dict[str, str] = dict(initial or {})

    def get(self, url: str) -> str | None:
        return self._nonces.get(_origin(url))

    def update(self, url: str, response: httpx.Response) -> None:
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self._nonces[_origin(url)] = nonce

    def as_dict(self) -> dict[str, str]:
        return dict(self._nonces)


def _headers(
    jwk: dict[str, str], method: str, url: str, nonces: NonceStore, access_token: str | None, extra: dict[str, str]
) -> dict[str, str]:
    headers = dict(extra)
    headers["DPoP"] = dpop_proof(jwk, method, url, nonce=nonces.get(url), access_token=access_token)
    if access_token:
        headers["Authorization"] = f"DPoP {access_token}"
    return headers


def dpop_request(
    http: httpx.Client,
    method: str,
    url: str,
    jwk: dict[str, str],
    nonces: NonceStore,
    *,
    access_token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    for _ in range(2):
        response = http.request(
            method, url, headers=_headers(jwk, method, url, nonces, access_token, headers or {}), **kwargs
        )
        nonces.update(url, response)
        if not needs_nonce(response):
            break
    return response


async def dpop_request_async(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    jwk: dict[str, str],
    nonces: NonceStore,
    *,
    access_token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    for _ in range(2):
        response = await http.request(
            method, url, headers=_headers(jwk, method, url, nonces, access_token, headers or {}), **kwargs
        )
        nonces.update(url, response)
        if not needs_nonce(response):
            break
    return response


# --------------------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------------------


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS


def client_id_for(redirect_uri: str) -> str:
    """The `client_id`: a loopback client while Beffroi runs on a loopback address, else its metadata document."""
    if is_loopback(settings.BASE_URL) or is_loopback(redirect_uri):
        return "http://localhost?" + urlencode({"redirect_uri": redirect_uri, "scope": SCOPE})
    return settings.BASE_URL.rstrip("/") + METADATA_PATH


def client_metadata(redirect_uri: str) -> dict[str, Any]:
    """The client metadata document served at `client_id_for(...)` (a public web client with DPoP)."""
    base = settings.BASE_URL.rstrip("/")
    return {
        "client_id": base + METADATA_PATH,
        "client_name": "Beffroi",
        "client_uri": base,
        "application_type": "web",
        "redirect_uris": [redirect_uri],
        "scope": SCOPE,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
    }


# --------------------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    sub: str
    scope: str
    expires_at: datetime | None


def parse_tokens(response: httpx.Response) -> Tokens:
    if response.status_code != 200:
        error, description = error_of(response)
        raise OAuthError(error or f"http_{response.status_code}", description, status=response.status_code)
    body = response.json()
    if str(body.get("token_type", "")).lower() != "dpop" or not body.get("access_token"):
        raise OAuthError("invalid_token_response", "not a DPoP-bound token", status=response.status_code)
    expires_in = body.get("expires_in")
    return Tokens(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        sub=str(body.get("sub") or ""),
        scope=str(body.get("scope") or ""),
        expires_at=datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None,
    )


def code_form(*, code: str, redirect_uri: str, verifier: str, client_id: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": client_id,
    }


def refresh_form(*, refresh_token: str, client_id: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}


def request_tokens(
    http: httpx.Client, token_endpoint: str, form: dict[str, str], jwk: dict[str, str], nonces: NonceStore
) -> Tokens:
    return parse_tokens(dpop_request(http, "POST", token_endpoint, jwk, nonces, data=form))


async def request_tokens_async(
    http: httpx.AsyncClient, token_endpoint: str, form: dict[str, str], jwk: dict[str, str], nonces: NonceStore
) -> Tokens:
    return parse_tokens(await dpop_request_async(http, "POST", token_endpoint, jwk, nonces, data=form))


def credentials_with(credentials: dict[str, Any], tokens: Tokens) -> dict[str, Any]:
    """The channel's OAuth credentials with new tokens (the refresh token rotates on each use)."""
    return {
        **credentials,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or credentials.get("refresh_token", ""),
        "expires_at": tokens.expires_at.isoformat() if tokens.expires_at else "",
        "scope": tokens.scope or credentials.get("scope", ""),
    }


def parse_instant(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def access_expiry(credentials: dict[str, Any]) -> datetime | None:
    return parse_instant(credentials.get("expires_at"))
