"""Connecting Instagram professional accounts, two ways (form field `login`):

- "instagram" (default), Instagram Login (Business Login for Instagram, graph.instagram.com; no Facebook Page
  needed): code → short-lived token (api.instagram.com) → long-lived token (`grant_type=ig_exchange_token`, 60
  days), refreshed with `grant_type=ig_refresh_token` once at least 24 hours old. Instagram documents no PKCE
  for this flow: `state` only.
- "facebook", Facebook Login with `state` and PKCE (graph.facebook.com): the Instagram accounts linked to the Pages
  the person shared, used with their Page's token (which does not expire).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext_noop

from beffroi.networks.base import ChannelAccess, ConnectedAccount, ConnectError, ErrorKind, PublishError
from beffroi.networks.graph.client import FACEBOOK_HOST, INSTAGRAM_HOST, SyncGraph, host_for, parse_time
from beffroi.networks.graph.oauth import (
    FACEBOOK_DIALOG_HOST,
    app_credentials,
    can_publish,
    check_callback,
    facebook_dialog_url,
    facebook_login,
    iso,
)
from beffroi.networks.oauth import pkce_pair

LABEL = "Instagram"
INSTAGRAM_DIALOG_HOST = "https://www.instagram.com"
INSTAGRAM_TOKEN_HOST = "https://api.instagram.com"
INSTAGRAM_SCOPES = (
    "instagram_business_basic",
    "instagram_business_content_publish",
    "instagram_business_manage_comments",
    "instagram_business_manage_insights",  # statistics
)
FACEBOOK_SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",  # statistics
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
)
# Meta refreshes a long-lived Instagram token only once it is at least a day old.
MIN_AGE_BEFORE_REFRESH = timedelta(hours=24)
LOGINS = ("instagram", "facebook")


class InstagramConnect:
    network = "instagram"

    def __init__(
        self,
        *,
        graph_host: str = INSTAGRAM_HOST,
        token_host: str = INSTAGRAM_TOKEN_HOST,
        dialog_host: str = INSTAGRAM_DIALOG_HOST,
        facebook_graph_host: str = FACEBOOK_HOST,
        facebook_dialog_host: str = FACEBOOK_DIALOG_HOST,
    ) -> None:
        self.graph_host = graph_host
        self.token_host = token_host
        self.dialog_host = dialog_host
        self.facebook_graph_host = facebook_graph_host
        self.facebook_dialog_host = facebook_dialog_host

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        login = form.get("login") or "instagram"
        if login not in LOGINS:
            raise ConnectError.of(
                "bad_login", gettext_noop("Unknown way to connect Instagram: %(login)s."), login=login
            )
        if login == "facebook":
            app_id, _secret = app_credentials("facebook", "Facebook")
            verifier, challenge = pkce_pair()
            url = facebook_dialog_url(
                app_id=app_id,
                redirect_uri=redirect_uri,
                state=state,
                scopes=FACEBOOK_SCOPES,
                code_challenge=challenge,
                dialog_host=self.facebook_dialog_host,
            )
            return url, {"state": state, "code_verifier": verifier, "login": login}
        app_id, _secret = app_credentials("instagram", LABEL)
        params = {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(INSTAGRAM_SCOPES),
            "state": state,
        }
        return f"{self.dialog_host.rstrip('/')}/oauth/authorize?{urlencode(params)}", {"state": state, "login": login}

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        if kept.get("login") == "facebook":
            return self._finish_facebook(redirect_uri, params, kept, http)
        return self._finish_instagram(redirect_uri, params, kept, http)

    # Instagram Login -----------------------------------------------------------------------------------------

    def _finish_instagram(
        self, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        code = check_callback(params, kept, LABEL)
        app_id, secret = app_credentials("instagram", LABEL)
        graph = SyncGraph(http, host=self.graph_host, label=LABEL)
        short = graph.call(
            "POST",
            "oauth/access_token",
            data={
                "client_id": app_id,
                "client_secret": secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
            host=self.token_host,
            versioned=False,
            authenticate=False,
        )
        if isinstance(short.get("data"), list) and short["data"]:  # the newer shape: {"data": [{…}]}
            short = short["data"][0]
        now = datetime.now(UTC)
        long = graph.call(
            "GET",
            "access_token",
            params={"grant_type": "ig_exchange_token", "client_secret": secret, "access_token": short["access_token"]},
            versioned=False,
            authenticate=False,
        )
        graph.token = str(long["access_token"])
        me = graph.call("GET", "me", params={"fields": "user_id,username,name,account_type"})
        user_id = str(me.get("user_id") or me.get("id") or short.get("user_id") or "")
        expires_at = _expiry(now, long)
        username = str(me.get("username") or "")
        name = str(me.get("name") or username or user_id)
        return [
            ConnectedAccount(
                remote_id=user_id,
                display_name=name,
                handle=username,
                config={
                    "ig_user_id": user_id,
                    "username": username,
                    "name": name,
                    "account_type": str(me.get("account_type") or ""),
                    "api_host": self.graph_host,
                    "login": "instagram",
                },
                # With the token: the engine saves refreshed credentials (not config) after a refresh.
                credentials={"access_token": graph.token, "issued_at": iso(now), "expires_at": iso(expires_at)},
                token_expires_at=expires_at,
            )
        ]

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        config = access.config
        if config.get("login") != "instagram":
            return None  # Page tokens (Facebook Login) do not expire
        now = datetime.now(UTC)
        issued = parse_time(access.credentials.get("issued_at"))
        expires = parse_time(access.credentials.get("expires_at"))
        if expires is not None and expires <= now:
            raise PublishError(
                ErrorKind.PERMANENT,
                "The Instagram authorisation has expired: reconnect the channel.",
                code="token_expired",
                needs_reconnection=True,
            )
        if issued is not None and now - issued < MIN_AGE_BEFORE_REFRESH:
            return None  # too young: Meta refuses to refresh it yet
        graph = SyncGraph(http, host=host_for(config, INSTAGRAM_HOST), label=LABEL)
        body = graph.call(
            "GET",
            "refresh_access_token",
            params={"grant_type": "ig_refresh_token", "access_token": str(access.credentials.get("access_token", ""))},
            versioned=False,
            authenticate=False,
        )
        expires_at = _expiry(now, body)
        return ConnectedAccount(
            remote_id=str(config.get("ig_user_id") or ""),
            display_name=str(config.get("name") or config.get("username") or ""),
            handle=str(config.get("username") or ""),
            config=dict(config),
            credentials={
                "access_token": str(body["access_token"]),
                "issued_at": iso(now),
                "expires_at": iso(expires_at),
            },
            token_expires_at=expires_at,
        )

    # Facebook Login ------------------------------------------------------------------------------------------

    def _finish_facebook(
        self, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        code = check_callback(params, kept, "Facebook")
        app_id, secret = app_credentials("facebook", "Facebook")
        graph = SyncGraph(http, host=self.facebook_graph_host, label="Facebook")
        login = facebook_login(
            graph,
            app_id=app_id,
            secret=secret,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=str(kept.get("code_verifier") or ""),
        )
        accounts = []
        for page in login.pages:
            linked = page.get("instagram_business_account")
            if not isinstance(linked, dict) or not linked.get("id") or not page.get("access_token"):
                continue
            if not can_publish(page):
                continue
            user_id = str(linked["id"])
            username = str(linked.get("username") or "")
            name = str(linked.get("name") or username or user_id)
            accounts.append(
                ConnectedAccount(
                    remote_id=user_id,
                    display_name=name,
                    handle=username,
                    config={
                        "ig_user_id": user_id,
                        "username": username,
                        "name": name,
                        "api_host": self.facebook_graph_host,
                        "login": "facebook",
                        "page_id": str(page["id"]),
                        "page_name": str(page.get("name") or ""),
                        "data_access_expires_at": iso(login.data_access_expires_at),
                    },
                    credentials={"access_token": str(page["access_token"])},
                    token_expires_at=None,
                )
            )
        if not accounts:
            raise ConnectError.of(
                "no_accounts",
                gettext_noop(
                    "None of the Facebook Pages shared with Beffroi has an Instagram professional account linked to "
                    "it: link the account to its Page (Instagram settings → Account type and tools), then connect "
                    "again."
                ),
            )
        return accounts


def _expiry(now: datetime, body: dict[str, Any]) -> datetime | None:
    expires_in = body.get("expires_in")
    try:
        return now + timedelta(seconds=int(expires_in)) if expires_in is not None else None
    except (TypeError, ValueError):
        return None


CONNECT = InstagramConnect()
