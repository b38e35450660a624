"""Meta's OAuth flows, shared by the Facebook and Instagram connections.

Facebook Login (for Business): authorization code with `state` and PKCE (S256) → short-lived user token →
long-lived user token (`grant_type=fb_exchange_token`, ~60 days) → its data-access expiry (`/debug_token`) →
`/me/accounts`: every Page the person shared, with a Page token (which does not expire when obtained from a
long-lived user token) and the Instagram professional account linked to it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.utils.translation import gettext_noop

from beffroi.networks.base import ConnectError
from beffroi.networks.graph.client import SyncGraph, api_version, parse_time

FACEBOOK_DIALOG_HOST = "https://www.facebook.com"
MAX_ACCOUNT_PAGES = 20  # /me/accounts pages of results followed (100 Pages each)

SETTINGS = {
    "facebook": ("BEFFROI_FACEBOOK_APP_ID", "BEFFROI_FACEBOOK_APP_SECRET"),
    "instagram": ("BEFFROI_INSTAGRAM_APP_ID", "BEFFROI_INSTAGRAM_APP_SECRET"),
}


def app_credentials(which: str, label: str) -> tuple[str, str]:
    """(app id, app secret) of Beffroi's Meta app, or a clear error saying what to configure."""
    from django.conf import settings

    id_setting, secret_setting = SETTINGS[which]
    app_id = str(getattr(settings, id_setting, "") or "")
    secret = str(getattr(settings, secret_setting, "") or "")
    if not app_id or not secret:
        raise ConnectError.of(
            "app_not_configured",
            gettext_noop(
                "Connecting %(network)s is not configured on this Beffroi: create an app on developers.facebook.com, "
                "then set %(id_setting)s and %(secret_setting)s to its app id and app secret (%(where)s)."
            ),
            network=label,
            id_setting=id_setting,
            secret_setting=secret_setting,
            where="Instagram → API setup with Instagram login" if which == "instagram" else "App settings → Basic",
        )
    return app_id, secret


def check_callback(params: dict[str, str], kept: dict[str, Any], label: str) -> str:
    """The authorization code of a callback, after checking `state`; a clear error when the person said no."""
    if params.get("error") or params.get("error_reason"):
        reason = params.get("error_description") or params.get("error_reason") or params.get("error")
        raise ConnectError.of(
            "authorisation_refused",
            gettext_noop("%(network)s did not authorise Beffroi (%(reason)s): nothing was connected."),
            network=label,
            reason=reason,
        )
    expected = str(kept.get("state") or "")
    if expected and not hmac.compare_digest(expected, str(params.get("state") or "")):
        raise ConnectError.of(
            "state_mismatch",
            gettext_noop("The answer from %(network)s does not match the connection started here: start again."),
            network=label,
        )
    code = str(params.get("code") or "")
    # Instagram appends "#_" to the code in the redirect.
    code = code.removesuffix("#_")
    if not code:
        raise ConnectError.of(
            "no_code", gettext_noop("%(network)s sent no authorisation code back: start again."), network=label
        )
    return code


def facebook_dialog_url(
    *,
    app_id: str,
    redirect_uri: str,
    state: str,
    scopes: tuple[str, ...],
    code_challenge: str,
    dialog_host: str = FACEBOOK_DIALOG_HOST,
) -> str:
    from django.conf import settings

    params = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "response_type": "code",
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    # Facebook Login for Business uses a configuration made in the app dashboard instead of a scope list.
    config_id = str(getattr(settings, "BEFFROI_FACEBOOK_LOGIN_CONFIG_ID", "") or "")
    if config_id:
        params["config_id"] = config_id
        params["override_default_response_type"] = "true"
    else:
        params["scope"] = ",".join(scopes)
    return f"{dialog_host.rstrip('/')}/{api_version()}/dialog/oauth?{urlencode(params)}"


@dataclass
class FacebookLogin:
    user_token: str
    user_token_expires_at: datetime | None
    data_access_expires_at: datetime | None
    pages: list[dict[str, Any]] = field(default_factory=list)  # /me/accounts entries, with their Page tokens


def facebook_login(
    graph: SyncGraph, *, app_id: str, secret: str, code: str, redirect_uri: str, code_verifier: str
) -> FacebookLogin:
    now = datetime.now(UTC)
    short = graph.call(
        "GET",
        "oauth/access_token",
        params={
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "client_secret": secret,
            "code": code,
            **({"code_verifier": code_verifier} if code_verifier else {}),
        },
        authenticate=False,
    )
    long = graph.call(
        "GET",
        "oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": secret,
            "fb_exchange_token": str(short["access_token"]),
        },
        authenticate=False,
    )
    user_token = str(long["access_token"])
    expires_in = long.get("expires_in")
    expires_at = now + timedelta(seconds=int(expires_in)) if isinstance(expires_in, int) else None
    info = graph.call(
        "GET",
        "debug_token",
        params={"input_token": user_token, "access_token": f"{app_id}|{secret}"},
        authenticate=False,
    ).get("data", {})
    data_access = parse_time(info.get("data_access_expires_at")) if info.get("data_access_expires_at") else None
    graph.token = user_token
    pages: list[dict[str, Any]] = []
    body = graph.call(
        "GET",
        "me/accounts",
        params={
            "fields": "id,name,access_token,tasks,instagram_business_account{id,username,name}",
            "limit": "100",
        },
    )
    for _ in range(MAX_ACCOUNT_PAGES):
        pages += body.get("data", [])
        next_url = (body.get("paging") or {}).get("next")
        if not next_url:
            break
        body = graph.call("GET", str(next_url))
    return FacebookLogin(user_token, expires_at, data_access, pages)


def can_publish(page: dict[str, Any]) -> bool:
    """Whether the person may create content on the Page (tasks are absent for some token types)."""
    tasks = page.get("tasks")
    return not isinstance(tasks, list) or bool({"CREATE_CONTENT", "MANAGE"} & set(tasks))


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
