"""Connecting a Mastodon account: any instance, chosen by the person.

`start` checks the address (HTTPS, a public host: the server makes requests there, so it must not become a way
to reach the local network), reads the instance's limits, registers Beffroi as an app on it once (stored in
`OAuthApp`) and builds the authorisation address with PKCE (S256). `finish` exchanges the code for a token and
reads the account. Mastodon tokens do not expire: there is nothing to refresh.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_noop

from beffroi.networks import servers
from beffroi.networks.base import ChannelAccess, ConnectedAccount
from beffroi.networks.base import ConnectError as BaseConnectError
from beffroi.networks.oauth import pkce_pair
from beffroi.networks.servers import Resolver, is_public_address  # noqa: F401 — part of this module's guard

NETWORK = "mastodon"
# Granular scopes (Mastodon ≥ 3.x): only what publishing, read-back and the inbox need.
SCOPES = "read:accounts read:statuses write:statuses write:media read:notifications"
APP_NAME = "Beffroi"
TIMEOUT_S = 15.0


class ConnectError(BaseConnectError):
    """Connecting to a Mastodon instance failed in a way the person can understand."""


def allow_private_instances() -> bool:
    """Local instances (the simulator, a test server) are allowed only in development or when asked for."""
    return bool(settings.DEBUG or getattr(settings, "MASTODON_ALLOW_PRIVATE_INSTANCES", False))


def check_public_host(host: str, port: int = 443, *, resolve: Resolver = socket.getaddrinfo) -> None:
    """The shared SSRF guard, raising this module's ConnectError."""
    servers.check_public_host(host, port, resolve=resolve, error=ConnectError)


def normalise_instance(value: str, *, allow_private: bool = False) -> tuple[str, str, int]:
    """`mastodon.social`, `https://mastodon.social/`, `@name@mastodon.social` → ("https://mastodon.social",
    host, port). HTTPS only, except for local instances when they are allowed."""
    value = value.strip()
    if value.startswith("@") or ("@" in value and "://" not in value):
        value = value.rsplit("@", 1)[1]  # a handle: the instance is after the last @
    if not value:
        raise ConnectError.of(
            "instance_invalid", gettext_noop("Type the address of your Mastodon server, e.g. mastodon.social.")
        )
    if "://" not in value:
        value = f"https://{value}"
    try:
        parts = urlsplit(value)
        port = parts.port
        host = (parts.hostname or "").rstrip(".")
        if host and not host.isascii() and ":" not in host:
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as error:
        raise ConnectError.of(
            "instance_invalid", gettext_noop("%(value)s is not a server address."), value=value
        ) from error
    if not host or parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ConnectError.of(
            "instance_invalid", gettext_noop("%(value)s is not a server address (e.g. mastodon.social)."), value=value
        )
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_private):
        raise ConnectError.of("instance_invalid", gettext_noop("Beffroi only connects to servers over HTTPS."))
    shown_host = f"[{host}]" if ":" in host else host
    default_port = 443 if parts.scheme == "https" else 80
    base = f"{parts.scheme}://{shown_host}" + (f":{port}" if port and port != default_port else "")
    return base, host, port or default_port


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _oauth_error(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or response.reason_phrase)
    return response.reason_phrase or f"HTTP {response.status_code}"


def instance_limits(instance: dict[str, Any]) -> dict[str, Any]:
    """What Beffroi keeps from /api/v2/instance (or v1): the limits that vary from one instance to the next."""
    configuration = instance.get("configuration") or {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}
    polls = configuration.get("polls") or {}
    limits: dict[str, Any] = {
        # Pleroma/Akkoma and Mastodon < 3.4 say it at the top level.
        "max_characters": statuses.get("max_characters") or instance.get("max_toot_chars") or 500,
        "max_media_attachments": statuses.get("max_media_attachments") or 4,
        "characters_reserved_per_url": statuses.get("characters_reserved_per_url") or 23,
    }
    for key in ("image_size_limit", "video_size_limit", "description_limit"):
        if media.get(key):
            limits[key] = media[key]
    if media.get("supported_mime_types"):
        limits["supported_mime_types"] = [
            mime for mime in media["supported_mime_types"] if mime.startswith(("image/", "video/"))
        ]
    for key in ("max_options", "max_characters_per_option", "min_expiration", "max_expiration"):
        if polls.get(key):
            limits[f"poll_{key}"] = polls[key]
    return limits


class MastodonConnect:
    """The `Connect` of base.py for Mastodon. `http` and `resolve` are injected by tests (recorded answers, no
    DNS); `allow_private` defaults to the settings."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        *,
        resolve: Resolver = socket.getaddrinfo,
        allow_private: bool | None = None,
        scopes: str = SCOPES,
    ) -> None:
        self.http = http
        self.resolve = resolve
        self.allow_private = allow_private
        self.scopes = scopes

    def _private_allowed(self) -> bool:
        return allow_private_instances() if self.allow_private is None else self.allow_private

    def instance_url(self, value: str) -> str:
        """The normalised instance address, after the SSRF guard."""
        allowed = self._private_allowed()
        base, host, port = normalise_instance(value, allow_private=allowed)
        if not allowed:
            check_public_host(host, port, resolve=self.resolve)
        return base

    def _client(self) -> httpx.Client:
        # Redirects are not followed: a redirect could lead the server to an address the guard refused.
        return self.http or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)

    # Start -----------------------------------------------------------------------------------------------------

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        instance = self.instance_url(form.get("instance", ""))
        http = self._client()
        try:
            info = self._read_instance(http, instance)
            client_id = self._app(http, instance, redirect_uri)
        finally:
            if http is not self.http:
                http.close()
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": self.scopes,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        kept = {
            "instance_url": instance,
            "domain": info.get("domain") or info.get("uri") or urlsplit(instance).hostname,
            "client_id": client_id,
            "code_verifier": verifier,
            "limits": instance_limits(info),
        }
        return f"{instance}/oauth/authorize?{query}", kept

    def _read_instance(self, http: httpx.Client, instance: str) -> dict[str, Any]:
        for path in ("/api/v2/instance", "/api/v1/instance"):  # v1 for servers older than Mastodon 4.0
            try:
                response = http.get(f"{instance}{path}")
            except httpx.HTTPError as error:
                raise ConnectError.of(
                    "instance_unreachable", gettext_noop("%(instance)s could not be reached."), instance=instance
                ) from error
            body = _json(response)
            if response.status_code == 200 and isinstance(body, dict):
                return body
            if response.status_code != 404:
                break
        raise ConnectError.of(
            "instance_not_mastodon",
            gettext_noop("%(instance)s does not answer like a Mastodon server."),
            instance=instance,
        )

    def _app(self, http: httpx.Client, instance: str, redirect_uri: str) -> str:
        """Beffroi's client id on this instance: registered once, then reused by everyone."""
        from beffroi.channels.models import OAuthApp

        lookup = {"network": NETWORK, "server": instance, "redirect_uri": redirect_uri, "scopes": self.scopes}
        existing = OAuthApp.objects.filter(**lookup).first()
        if existing is not None:
            return existing.client_id
        try:
            response = http.post(
                f"{instance}/api/v1/apps",
                data={
                    "client_name": APP_NAME,
                    "redirect_uris": redirect_uri,
                    "scopes": self.scopes,
                    "website": getattr(settings, "BASE_URL", ""),
                },
            )
        except httpx.HTTPError as error:
            raise ConnectError.of(
                "instance_unreachable", gettext_noop("%(instance)s could not be reached."), instance=instance
            ) from error
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("client_id"):
            raise ConnectError.of(
                "app_registration_failed",
                gettext_noop("%(instance)s refused to register Beffroi as an application (%(detail)s)."),
                instance=instance,
                detail=_oauth_error(response),
            )
        app = OAuthApp(**lookup, client_id=body["client_id"])
        app.client_secret = body.get("client_secret", "")
        try:
            with transaction.atomic():
                app.save()
        except IntegrityError:  # someone else registered at the same moment: use theirs
            return OAuthApp.objects.get(**lookup).client_id
        return app.client_id

    # Finish ----------------------------------------------------------------------------------------------------

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        from beffroi.channels.models import OAuthApp

        instance = kept["instance_url"]
        if params.get("error"):
            if params["error"] == "access_denied":
                raise ConnectError.of(
                    "access_denied",
                    gettext_noop("The connection was cancelled on %(instance)s: nothing changed."),
                    instance=instance,
                )
            detail = params.get("error_description") or params["error"]
            raise ConnectError.of(
                "authorisation_failed",
                gettext_noop("%(instance)s refused the connection: %(detail)s"),
                instance=instance,
                detail=detail,
            )
        code = params.get("code")
        if not code:
            raise ConnectError.of(
                "authorisation_failed", gettext_noop("%(instance)s sent no authorisation code back."), instance=instance
            )
        self.instance_url(instance)  # the guard again: the name may resolve elsewhere by now
        app = OAuthApp.objects.filter(network=NETWORK, server=instance, client_id=kept["client_id"]).first()
        if app is None:
            raise ConnectError.of(
                "authorisation_failed", gettext_noop("The application registration changed meanwhile: try again.")
            )
        try:
            response = http.post(
                f"{instance}/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "redirect_uri": redirect_uri,
                    "code_verifier": kept["code_verifier"],
                    "scope": app.scopes,
                },
            )
        except httpx.HTTPError as error:
            raise ConnectError.of(
                "instance_unreachable", gettext_noop("%(instance)s could not be reached."), instance=instance
            ) from error
        token = (_json(response) or {}).get("access_token") if response.status_code == 200 else None
        if not token:
            if _json(response) and (_json(response) or {}).get("error") == "invalid_client":
                app.delete()  # the instance forgot the app (deleted by its admin): register again next time
            raise ConnectError.of(
                "token_exchange_failed",
                gettext_noop("%(instance)s refused the authorisation code (%(detail)s)."),
                instance=instance,
                detail=_oauth_error(response),
            )
        try:
            response = http.get(
                f"{instance}/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            raise ConnectError.of(
                "instance_unreachable", gettext_noop("%(instance)s could not be reached."), instance=instance
            ) from error
        account = _json(response)
        if response.status_code != 200 or not isinstance(account, dict) or "id" not in account:
            raise ConnectError.of(
                "account_unreadable",
                gettext_noop("%(instance)s did not let Beffroi read the account."),
                instance=instance,
            )
        username = account.get("username") or account.get("acct", "").split("@")[0]
        domain = kept.get("domain") or urlsplit(instance).hostname
        return [
            ConnectedAccount(
                remote_id=str(account["id"]),
                display_name=account.get("display_name") or username,
                handle=f"@{username}@{domain}",
                config={
                    "instance_url": instance,
                    "account_id": str(account["id"]),
                    "account_url": account.get("url", ""),
                    "domain": domain,
                    **kept.get("limits", {}),
                },
                credentials={"access_token": token},
                token_expires_at=None,
            )
        ]

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        return None  # Mastodon tokens do not expire


CONNECT = MastodonConnect()
