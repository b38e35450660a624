"""Connecting a Bluesky account with an app password (Settings → Privacy and security → App passwords).

The form gives a handle (or e-mail/DID), the app password and, for a self-hosted PDS, its address; createSession
turns them into a session. The app password is kept so a dead session can be replaced without asking the person
again (createSession is limited to 30 calls per 5 minutes per handle: the connector only uses it as a last resort).
atproto OAuth (PAR + PKCE + DPoP) is not built yet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext_noop

from beffroi.networks.base import ChannelAccess, ConnectedAccount
from beffroi.networks.base import ConnectError as BaseConnectError
from beffroi.networks.bluesky.connector import DEFAULT_SERVICE, jwt_expiry
from beffroi.networks.mastodon.connect import ConnectError as MastodonConnectError
from beffroi.networks.mastodon.connect import check_public_host


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
        except MastodonConnectError as error:
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


class BlueskyConnect:
    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        # App passwords need no redirect: finish() gets the form directly.
        return "", {}

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
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

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        """A new session from the refresh token (refreshSession); ConnectError when it is refused."""
        credentials = access.credentials
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
