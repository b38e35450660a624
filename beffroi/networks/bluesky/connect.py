"""Connecting a Bluesky account with an app password (Settings → Privacy and security → App passwords).

The form gives a handle (or e-mail/DID), the app password and, for a self-hosted PDS, its address; createSession
turns them into a session. The app password is kept so a dead session can be replaced without asking the person
again (createSession is limited to 30 calls per 5 minutes per handle: the connector only uses it as a last resort).

Or with atproto OAuth (oauth.py: PAR + PKCE + DPoP): the form gives the handle (and `method=oauth`, or no app
password); start() resolves it to its PDS and authorization server and sends the person there; finish() exchanges the
callback's code for DPoP-bound tokens, whose key is kept with the channel's credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext_noop

from beffroi.networks.base import ChannelAccess, ConnectedAccount
from beffroi.networks.base import ConnectError as BaseConnectError
from beffroi.networks.bluesky import oauth
from beffroi.networks.bluesky.connector import DEFAULT_SERVICE, jwt_expiry
from beffroi.networks.oauth import pkce_pair
from beffroi.networks.servers import check_public_host


class ConnectError(BaseConnectError):
    """Connecting to Bluesky failed in a way the person can understand."""


def allow_private_services() -> bool:
    """A PDS on a local address (the test network) only in development or when asked for: the server makes
    requests to the address a person types, which must not become a way into the local network."""
    return bool(settings.DEBUG or getattr(settings, "BLUESKY_ALLOW_PRIVATE_SERVICES", False))


def check_service(service: str) -> str:
    """The PDS address, checked: HTTPS and a public host (http and local hosts only when allowed)."""
    service = service.strip().rstrip("/") or DEFAULT_SERVICE
    if "://" not in service:
        service = f"https://{service}"
    parts = urlsplit(service)
    allow_private = allow_private_services()
    if (
        not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.path not in ("", "/")
        or not (parts.scheme == "https" or (parts.scheme == "http" and allow_private))
    ):
        raise ConnectError.of("invalid_service", MESSAGES["invalid_service"])
    if not allow_private:
        try:
            check_public_host(parts.hostname, parts.port or 443)
        except BaseConnectError as error:
            raise ConnectError(
                "service_not_public", error.message, template=error.template, params=error.params
            ) from error
    return service


# Error codes and their English messages, for translation.
MESSAGES = {
    "missing_fields": gettext_noop("Enter the account's handle and an app password."),
    "invalid_service": gettext_noop(
        "Type the address of your Bluesky server (PDS), e.g. https://bsky.social, or leave it empty."
    ),
    "wrong_password": gettext_noop(
        "Bluesky refused this handle and app password. Check them, or create a new app password."
    ),
    "rate_limited": gettext_noop(
        "Bluesky received too many sign-in attempts for this account; try again in a few minutes."
    ),
    "unreachable": gettext_noop("The Bluesky server could not be reached; try again later."),
    "server_error": gettext_noop("The Bluesky server answered with an error (%(status)s); try again later."),
    "refresh_refused": gettext_noop("Bluesky no longer accepts this channel's session; reconnect the channel."),
    "missing_handle": gettext_noop("Enter the account's handle."),
    "handle_not_found": gettext_noop(
        "This Bluesky handle could not be found. Check it, or type the address of your server (PDS)."
    ),
    "oauth_unsupported": gettext_noop(
        "This Bluesky server does not offer sign-in with OAuth; connect with an app password instead."
    ),
    "oauth_denied": gettext_noop("The connection was cancelled on Bluesky; nothing was connected."),
    "oauth_failed": gettext_noop("Bluesky did not complete the connection (%(error)s); start again."),
}


def _xrpc(service: str, nsid: str) -> str:
    return f"{service.rstrip('/')}/xrpc/{nsid}"


def _account(service: str, body: dict[str, Any], identifier: str, app_password: str) -> ConnectedAccount:
    did, handle = str(body["did"]), str(body.get("handle") or identifier)
    return ConnectedAccount(
        remote_id=did,
        display_name=handle,
        handle=handle,
        config={"service": service, "did": did, "handle": handle},
        credentials={
            "identifier": identifier,
            "app_password": app_password,
            "access_jwt": str(body["accessJwt"]),
            "refresh_jwt": str(body["refreshJwt"]),
            "did": did,
            "service": service,
        },
        # The refresh token's expiry (~90 days): the connector renews the 2-hour access token itself when it
        # needs to (and the engine stores it); the channel's health only has to renew the session before this.
        token_expires_at=jwt_expiry(str(body["refreshJwt"])) or jwt_expiry(str(body["accessJwt"])),
    )


def _plc_url() -> str:
    return str(getattr(settings, "BLUESKY_PLC_URL", "") or oauth.DEFAULT_PLC_URL).rstrip("/")


def _get_json(http: httpx.Client, url: str, *, missing: str, **kwargs: Any) -> dict[str, Any]:
    """A JSON document; ConnectError `missing` when the server says there is none."""
    try:
        response = http.get(url, headers={"Accept": "application/json"}, **kwargs)
    except httpx.TransportError as exc:
        raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
    if 400 <= response.status_code < 500:
        raise ConnectError.of(missing, MESSAGES[missing])
    if response.status_code != 200:
        raise ConnectError.of("server_error", MESSAGES["server_error"], status=response.status_code)
    try:
        body = response.json()
    except ValueError as exc:
        raise ConnectError.of(missing, MESSAGES[missing]) from exc
    if not isinstance(body, dict):
        raise ConnectError.of(missing, MESSAGES[missing])
    return body


def resolve_identity(http: httpx.Client, identifier: str, service: str) -> tuple[str, str, str]:
    """(DID, handle, PDS address) of a handle or DID, from its DID document (PLC directory or did:web).

    The handle is resolved by the server the person typed (Bluesky's by default); the DID document must name the
    handle back, and gives the PDS."""
    if identifier.startswith("did:"):
        did = identifier
    else:
        body = _get_json(
            http,
            _xrpc(check_service(service), "com.atproto.identity.resolveHandle"),
            missing="handle_not_found",
            params={"handle": identifier},
        )
        did = str(body.get("did") or "")
    if did.startswith("did:plc:"):
        document = _get_json(http, f"{_plc_url()}/{did}", missing="handle_not_found")
    elif did.startswith("did:web:"):
        host = check_service("https://" + did.removeprefix("did:web:").replace("%3A", ":"))
        document = _get_json(http, f"{host}/.well-known/did.json", missing="handle_not_found")
    else:
        raise ConnectError.of("handle_not_found", MESSAGES["handle_not_found"])
    if document.get("id") != did:
        raise ConnectError.of("handle_not_found", MESSAGES["handle_not_found"])
    handles = [
        str(name).removeprefix("at://") for name in document.get("alsoKnownAs") or [] if str(name).startswith("at://")
    ]
    if not identifier.startswith("did:") and identifier.lower() not in [name.lower() for name in handles]:
        raise ConnectError.of("handle_not_found", MESSAGES["handle_not_found"])
    handle = identifier if not identifier.startswith("did:") else (handles[0] if handles else did)
    endpoints = [
        entry.get("serviceEndpoint")
        for entry in document.get("service") or []
        if isinstance(entry, dict) and str(entry.get("id", "")).endswith("#atproto_pds")
    ]
    if not endpoints or not isinstance(endpoints[0], str):
        raise ConnectError.of("handle_not_found", MESSAGES["handle_not_found"])
    return did, handle, check_service(endpoints[0])


def authorization_server(http: httpx.Client, pds: str) -> dict[str, Any]:
    """The metadata of the PDS's authorization server, checked (issuer, PAR, PKCE S256, DPoP ES256)."""
    resource = _get_json(http, f"{pds}/.well-known/oauth-protected-resource", missing="oauth_unsupported")
    servers = resource.get("authorization_servers") or []
    if not servers or not isinstance(servers[0], str):
        raise ConnectError.of("oauth_unsupported", MESSAGES["oauth_unsupported"])
    issuer = check_service(servers[0])
    metadata = _get_json(http, f"{issuer}/.well-known/oauth-authorization-server", missing="oauth_unsupported")
    allowed_schemes = ("https", "http") if allow_private_services() else ("https",)
    endpoints = ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint")
    if (
        str(metadata.get("issuer") or "").rstrip("/") != issuer
        or any(urlsplit(str(metadata.get(name) or "")).scheme not in allowed_schemes for name in endpoints)
        or "S256" not in (metadata.get("code_challenge_methods_supported") or [])
        or "ES256" not in (metadata.get("dpop_signing_alg_values_supported") or [])
    ):
        raise ConnectError.of("oauth_unsupported", MESSAGES["oauth_unsupported"])
    return {**metadata, "issuer": issuer}


def _oauth_failed(error: str) -> ConnectError:
    return ConnectError.of("oauth_failed", MESSAGES["oauth_failed"], error=error[:80] or "?")


def _oauth_account(kept: dict[str, Any], tokens: oauth.Tokens, started_at: datetime) -> ConnectedAccount:
    did, handle, service = str(kept["did"]), str(kept["handle"]), str(kept["service"])
    credentials = oauth.credentials_with(
        {
            "oauth": True,
            "dpop_jwk": kept["dpop_jwk"],
            "did": did,
            "service": service,
            "auth_server": kept["issuer"],
            "token_endpoint": kept["token_endpoint"],
            "client_id": kept["client_id"],
            "session_started_at": started_at.isoformat(),
        },
        tokens,
    )
    return ConnectedAccount(
        remote_id=did,
        display_name=handle,
        handle=handle,
        config={"service": service, "did": did, "handle": handle},
        credentials=credentials,
        # A public client's session ends two weeks after it started, refreshed or not: reconnect before then.
        token_expires_at=started_at + oauth.PUBLIC_CLIENT_SESSION,
    )


class BlueskyConnect:
    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        handle = (form.get("handle") or "").strip().removeprefix("@")
        if form.get("method") == "oauth" or (handle and not (form.get("app_password") or "").strip()):
            return self._start_oauth(redirect_uri=redirect_uri, state=state, form=form)
        # App passwords need no redirect: finish() gets the form directly.
        return "", {}

    def _start_oauth(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        identifier = (form.get("handle") or "").strip().removeprefix("@").lower()
        if not identifier:
            raise ConnectError.of("missing_handle", MESSAGES["missing_handle"])
        # Synchronous like the rest of the connect flow; the view gives no client to start(), so one is made here.
        with httpx.Client(timeout=httpx.Timeout(20.0, connect=10.0), follow_redirects=False) as http:
            did, handle, pds = resolve_identity(http, identifier, form.get("service") or "")
            metadata = authorization_server(http, pds)
            jwk = oauth.new_dpop_key()
            nonces = oauth.NonceStore()
            verifier, challenge = pkce_pair()
            client_id = oauth.client_id_for(redirect_uri)
            try:
                response = oauth.dpop_request(
                    http,
                    "POST",
                    str(metadata["pushed_authorization_request_endpoint"]),
                    jwk,
                    nonces,
                    data={
                        "client_id": client_id,
                        "response_type": "code",
                        "redirect_uri": redirect_uri,
                        "scope": oauth.SCOPE,
                        "state": state,
                        "code_challenge": challenge,
                        "code_challenge_method": "S256",
                        "login_hint": handle,
                    },
                )
            except httpx.TransportError as exc:
                raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
        if response.status_code >= 500:
            raise ConnectError.of("server_error", MESSAGES["server_error"], status=response.status_code)
        request_uri = None
        if response.status_code in (200, 201):
            try:
                request_uri = response.json().get("request_uri")
            except (ValueError, AttributeError):
                request_uri = None
        if not isinstance(request_uri, str) or not request_uri:
            raise _oauth_failed(oauth.error_of(response)[0] or f"HTTP {response.status_code}")
        url = (
            str(metadata["authorization_endpoint"])
            + "?"
            + urlencode({"client_id": client_id, "request_uri": request_uri})
        )
        kept = {
            "oauth": True,
            "state": state,
            "verifier": verifier,
            "dpop_jwk": jwk,
            "nonces": nonces.as_dict(),
            "issuer": metadata["issuer"],
            "token_endpoint": metadata["token_endpoint"],
            "client_id": client_id,
            "did": did,
            "handle": handle,
            "service": pds,
        }
        return url, kept

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        if kept.get("oauth"):
            return [self._finish_oauth(redirect_uri=redirect_uri, params=params, kept=kept, http=http)]
        identifier = (params.get("handle") or "").strip().removeprefix("@")
        app_password = (params.get("app_password") or "").strip()
        if not identifier or not app_password:
            raise ConnectError.of("missing_fields", MESSAGES["missing_fields"])
        service = check_service(params.get("service") or "")
        try:
            response = http.post(
                _xrpc(service, "com.atproto.server.createSession"),
                json={"identifier": identifier, "password": app_password},
            )
        except httpx.TransportError as exc:
            raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
        if response.status_code == 200:
            return [_account(service, response.json(), identifier, app_password)]
        if response.status_code == 429:
            raise ConnectError.of("rate_limited", MESSAGES["rate_limited"])
        if 400 <= response.status_code < 500:
            raise ConnectError.of("wrong_password", MESSAGES["wrong_password"])
        raise ConnectError.of("server_error", MESSAGES["server_error"], status=response.status_code)

    def _finish_oauth(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> ConnectedAccount:
        error = params.get("error") or ""
        if error == "access_denied":
            raise ConnectError.of("oauth_denied", MESSAGES["oauth_denied"])
        if error:
            raise _oauth_failed(error)
        if params.get("state") != kept.get("state"):
            raise _oauth_failed("state")
        # RFC 9207: the answer must come from the server the person was sent to (atproto servers always send it).
        if (params.get("iss") or "").rstrip("/") != str(kept["issuer"]).rstrip("/"):
            raise _oauth_failed("iss")
        code = params.get("code") or ""
        if not code:
            raise _oauth_failed("code")
        started_at = datetime.now(UTC)
        try:
            tokens = oauth.request_tokens(
                http,
                str(kept["token_endpoint"]),
                oauth.code_form(
                    code=code, redirect_uri=redirect_uri, verifier=str(kept["verifier"]), client_id=kept["client_id"]
                ),
                kept["dpop_jwk"],
                oauth.NonceStore(kept.get("nonces")),
            )
        except httpx.TransportError as exc:
            raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
        except oauth.OAuthError as exc:
            if exc.status and exc.status >= 500:
                raise ConnectError.of("server_error", MESSAGES["server_error"], status=exc.status) from exc
            raise _oauth_failed(exc.error) from exc
        # The account that signed in must be the one whose server we asked (else that server could speak for
        # any DID), and it must have granted the atproto scope.
        if tokens.sub != kept["did"] or "atproto" not in tokens.scope.split():
            raise _oauth_failed("sub" if tokens.sub != kept["did"] else "scope")
        return _oauth_account(kept, tokens, started_at)

    def _refresh_oauth(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        """The refresh grant, once the access token has expired (or is about to).

        A public client's session ends two weeks after sign-in whatever is done, so refreshing earlier gains
        nothing; and every refresh rotates the refresh token, which the PDS ends the whole session for when an
        old one comes back (a publish refreshing at the same moment): the fewer, the safer. The health check
        calls this every 15 minutes once `token_expires_at` is near; a session past its end is refused here, and
        the channel's managers are told to reconnect."""
        credentials = access.credentials
        if not credentials.get("refresh_token"):
            return None
        expiry = oauth.access_expiry(credentials) or jwt_expiry(str(credentials.get("access_token") or ""))
        if expiry is not None and expiry > datetime.now(UTC) + timedelta(minutes=5):
            return None
        try:
            tokens = oauth.request_tokens(
                http,
                str(credentials["token_endpoint"]),
                oauth.refresh_form(refresh_token=credentials["refresh_token"], client_id=credentials["client_id"]),
                credentials["dpop_jwk"],
                oauth.NonceStore(),
            )
        except httpx.TransportError as exc:
            raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
        except oauth.OAuthError as exc:
            if exc.status and (exc.status >= 500 or exc.status == 429):
                raise ConnectError.of("server_error", MESSAGES["server_error"], status=exc.status) from exc
            raise ConnectError.of("refresh_refused", MESSAGES["refresh_refused"]) from exc
        handle = str(access.config.get("handle") or credentials.get("did") or "")
        started = oauth.parse_instant(credentials.get("session_started_at")) or datetime.now(UTC)
        renewed = oauth.credentials_with(credentials, tokens)
        return ConnectedAccount(
            remote_id=str(credentials["did"]),
            display_name=handle,
            handle=handle,
            config=dict(access.config),
            credentials=renewed,
            token_expires_at=started + oauth.PUBLIC_CLIENT_SESSION,
        )

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        """A new session from the refresh token (refreshSession, or the OAuth refresh grant); ConnectError when
        it is refused."""
        credentials = access.credentials
        if credentials.get("oauth"):
            return self._refresh_oauth(access, http)
        service = str(credentials.get("service") or access.config.get("service") or DEFAULT_SERVICE).rstrip("/")
        refresh_jwt = credentials.get("refresh_jwt")
        if not refresh_jwt:
            return None
        try:
            response = http.post(
                _xrpc(service, "com.atproto.server.refreshSession"),
                headers={"Authorization": f"Bearer {refresh_jwt}"},
            )
        except httpx.TransportError as exc:
            raise ConnectError.of("unreachable", MESSAGES["unreachable"]) from exc
        if response.status_code == 200:
            identifier = str(credentials.get("identifier") or access.config.get("handle") or "")
            return _account(service, response.json(), identifier, str(credentials.get("app_password") or ""))
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise ConnectError.of("refresh_refused", MESSAGES["refresh_refused"])
        raise ConnectError.of("server_error", MESSAGES["server_error"], status=response.status_code)


CONNECT = BlueskyConnect()
