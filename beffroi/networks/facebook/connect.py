"""Connecting Facebook Pages: Facebook Login (for Business) with `state` and PKCE, one channel per Page.

Page tokens obtained from a long-lived user token do not expire (token_expires_at is None), but Meta stops giving
data after the user token's data-access expiry (about 90 days without logging in): it is kept in the channel's
config as `data_access_expires_at` so people can be told to reconnect before it.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.utils.translation import gettext_noop

from beffroi.networks.base import ChannelAccess, ConnectedAccount, ConnectError
from beffroi.networks.graph.client import FACEBOOK_HOST, SyncGraph
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

LABEL = "Facebook"
SCOPES = (
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "pages_manage_engagement",  # first comments, comment moderation
    "read_insights",  # Page and post statistics
    "business_management",  # Pages held in a business portfolio
)


class FacebookConnect:
    network = "facebook"

    def __init__(self, *, graph_host: str = FACEBOOK_HOST, dialog_host: str = FACEBOOK_DIALOG_HOST) -> None:
        self.graph_host = graph_host
        self.dialog_host = dialog_host

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        app_id, _secret = app_credentials("facebook", LABEL)
        verifier, challenge = pkce_pair()
        url = facebook_dialog_url(
            app_id=app_id,
            redirect_uri=redirect_uri,
            state=state,
            scopes=SCOPES,
            code_challenge=challenge,
            dialog_host=self.dialog_host,
        )
        return url, {"state": state, "code_verifier": verifier}

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        code = check_callback(params, kept, LABEL)
        app_id, secret = app_credentials("facebook", LABEL)
        graph = SyncGraph(http, host=self.graph_host, label=LABEL)
        login = facebook_login(
            graph,
            app_id=app_id,
            secret=secret,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=str(kept.get("code_verifier") or ""),
        )
        accounts = [
            ConnectedAccount(
                remote_id=str(page["id"]),
                display_name=str(page.get("name") or page["id"]),
                config={
                    "page_id": str(page["id"]),
                    "api_host": self.graph_host,
                    "tasks": list(page.get("tasks") or []),
                    "data_access_expires_at": iso(login.data_access_expires_at),
                    **(
                        {"instagram_account_id": str(page["instagram_business_account"]["id"])}
                        if isinstance(page.get("instagram_business_account"), dict)
                        else {}
                    ),
                },
                credentials={"access_token": str(page["access_token"])},
                token_expires_at=None,
            )
            for page in login.pages
            if page.get("access_token") and can_publish(page)
        ]
        if not accounts:
            raise ConnectError.of(
                "no_accounts",
                gettext_noop(
                    "No Facebook Page was shared with Beffroi where you can publish: connect again and choose at "
                    "least one Page you manage."
                ),
            )
        return accounts

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        # A Page token from a long-lived user token does not expire; only logging in again renews data access.
        return None


CONNECT = FacebookConnect()
