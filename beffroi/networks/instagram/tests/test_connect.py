"""Connecting Instagram accounts: Instagram Login (and its token refresh), or Facebook Login through Pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ConnectError, PublishError
from beffroi.networks.graph.tests.replay import Expect, Replay, load, meta_error
from beffroi.networks.instagram.connect import InstagramConnect
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, ig_user_id_for

FIXTURES = Path(__file__).parent / "fixtures"
V = "/v24.0"
REDIRECT = "https://beffroi.exemple.fr/channels/connect/instagram/callback"


@pytest.fixture(autouse=True)
def meta_apps(settings):
    settings.BEFFROI_GRAPH_API_VERSION = "v24.0"
    settings.BEFFROI_INSTAGRAM_APP_ID = "777"
    settings.BEFFROI_INSTAGRAM_APP_SECRET = "ig-secret"
    settings.BEFFROI_FACEBOOK_APP_ID = "123456"
    settings.BEFFROI_FACEBOOK_APP_SECRET = "fb-secret"
    settings.BEFFROI_FACEBOOK_LOGIN_CONFIG_ID = ""


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# Instagram Login ---------------------------------------------------------------------------------------------


def test_start_with_instagram_login():
    url, kept = InstagramConnect().start(redirect_uri=REDIRECT, state="st4te", form={})
    assert url.startswith("https://www.instagram.com/oauth/authorize?")
    query = query_of(url)
    assert query["client_id"] == "777" and query["state"] == "st4te" and query["response_type"] == "code"
    assert query["scope"].split(",") == [
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
        "instagram_business_manage_insights",
    ]
    assert kept == {"state": "st4te", "login": "instagram"}


def test_a_missing_instagram_app_says_what_to_configure(settings):
    settings.BEFFROI_INSTAGRAM_APP_ID = ""
    with pytest.raises(ConnectError) as caught:
        InstagramConnect().start(redirect_uri=REDIRECT, state="s", form={})
    assert caught.value.code == "app_not_configured" and "BEFFROI_INSTAGRAM_APP_ID" in caught.value.message


def test_finish_with_instagram_login_gives_a_60_day_token():
    replay = Replay(
        Expect(
            "POST", "/oauth/access_token", load(FIXTURES, "basic_display_api_user_token.json"), host="api.instagram.com"
        ),
        Expect("GET", "/access_token", load(FIXTURES, "long_term_token.json"), host="graph.instagram.com"),
        Expect("GET", f"{V}/me", load(FIXTURES, "user_info.json"), host="graph.instagram.com"),
    )
    before = datetime.now(UTC)
    with replay.client() as http:
        [account] = InstagramConnect().finish(
            redirect_uri=REDIRECT,
            params={"code": "AQBx#_", "state": "s"},
            kept={"state": "s", "login": "instagram"},
            http=http,
        )
    replay.assert_done()
    assert replay.params(0) == {
        "client_id": "777",
        "client_secret": "ig-secret",
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code": "AQBx",  # Instagram's trailing "#_" removed
    }
    assert replay.params(1) == {
        "grant_type": "ig_exchange_token",
        "client_secret": "ig-secret",
        "access_token": "token",
    }
    assert replay.requests[2].headers["Authorization"] == "Bearer token"
    assert (account.remote_id, account.handle) == ("17841406338772941", "ikroskun")
    assert account.credentials["access_token"] == "token"
    assert account.credentials["expires_at"] == account.token_expires_at.isoformat()
    assert timedelta(days=59) < account.token_expires_at - before < timedelta(days=61)
    assert account.config["login"] == "instagram" and account.config["api_host"] == "https://graph.instagram.com"
    assert account.config["ig_user_id"] == "17841406338772941"


def test_the_newer_token_answer_shape_is_understood():
    replay = Replay(
        Expect(
            "POST",
            "/oauth/access_token",
            {"data": [{"access_token": "short", "user_id": "99", "permissions": "instagram_business_basic"}]},
        ),
        Expect("GET", "/access_token", {"access_token": "long", "token_type": "bearer", "expires_in": 5183944}),
        Expect("GET", f"{V}/me", {"user_id": "178414", "username": "asso", "id": "app-scoped"}),
    )
    with replay.client() as http:
        [account] = InstagramConnect().finish(redirect_uri=REDIRECT, params={"code": "c"}, kept={}, http=http)
    assert replay.params(1)["access_token"] == "short" and account.remote_id == "178414"


def access(issued_ago: timedelta, expires_in: timedelta, login="instagram") -> ChannelAccess:
    now = datetime.now(UTC)
    config = {"ig_user_id": "178414", "username": "asso", "name": "Asso", "login": login}
    credentials = {
        "access_token": "old-token",
        "issued_at": (now - issued_ago).isoformat(),
        "expires_at": (now + expires_in).isoformat(),
    }
    return ChannelAccess(1, "instagram", config, credentials)


def test_refresh_only_when_allowed():
    replay = Replay(
        Expect("GET", "/refresh_access_token", load(FIXTURES, "long_term_token.json"), host="graph.instagram.com")
    )
    with replay.client() as http:
        assert InstagramConnect().refresh(access(timedelta(hours=2), timedelta(days=50)), http) is None  # too young
        assert InstagramConnect().refresh(access(timedelta(days=1), timedelta(days=50), "facebook"), http) is None
        refreshed = InstagramConnect().refresh(access(timedelta(days=30), timedelta(days=30)), http)
        with pytest.raises(PublishError) as caught:
            InstagramConnect().refresh(access(timedelta(days=61), timedelta(seconds=-1)), http)
    replay.assert_done()
    assert replay.params(0) == {"grant_type": "ig_refresh_token", "access_token": "old-token"}
    assert refreshed.credentials["access_token"] == "token" and refreshed.remote_id == "178414"
    assert refreshed.token_expires_at > datetime.now(UTC) + timedelta(days=59)
    assert refreshed.credentials["expires_at"] == refreshed.token_expires_at.isoformat()
    assert caught.value.needs_reconnection and caught.value.code == "token_expired"


def test_a_refused_refresh():
    replay = Replay(
        Expect(
            "GET",
            "/refresh_access_token",
            meta_error(190, "Error validating access token: Session has expired", 463),
            400,
        )
    )
    with replay.client() as http, pytest.raises(PublishError) as caught:
        InstagramConnect().refresh(access(timedelta(days=30), timedelta(days=1)), http)
    assert caught.value.needs_reconnection and "old-token" not in caught.value.request


# Facebook Login ----------------------------------------------------------------------------------------------


def test_instagram_accounts_linked_to_the_shared_pages():
    url, kept = InstagramConnect().start(redirect_uri=REDIRECT, state="s", form={"login": "facebook"})
    query = query_of(url)
    assert url.startswith("https://www.facebook.com/v24.0/dialog/oauth?") and query["client_id"] == "123456"
    assert "instagram_content_publish" in query["scope"] and query["code_challenge_method"] == "S256"
    assert kept["login"] == "facebook" and kept["code_verifier"]
    pages = load(FIXTURES, "user_accounts_token.json")
    # The recorded Page has no Instagram account: link one, as Meta answers with the nested fields asked.
    linked = dict(
        pages["data"][0],
        id="2121008874780933",
        access_token="page-token-2",
        instagram_business_account={
            "id": "17841407673135339",
            "username": "facebookfordevelopers",
            "name": "Facebook for Developers",
        },
    )
    pages["data"].append(linked)
    replay = Replay(
        Expect(
            "GET",
            f"{V}/oauth/access_token",
            {"access_token": "short", "token_type": "bearer"},
            host="graph.facebook.com",
        ),
        Expect("GET", f"{V}/oauth/access_token", load(FIXTURES, "long_term_token.json")),
        Expect("GET", f"{V}/debug_token", load(FIXTURES, "token_info.json")),
        Expect("GET", f"{V}/me/accounts", pages),
    )
    with replay.client() as http:
        [account] = InstagramConnect().finish(
            redirect_uri=REDIRECT, params={"code": "c", "state": "s"}, kept=kept, http=http
        )
    replay.assert_done()
    assert replay.params(0)["code_verifier"] == kept["code_verifier"]
    assert (account.remote_id, account.handle) == ("17841407673135339", "facebookfordevelopers")
    assert account.credentials == {"access_token": "page-token-2"} and account.token_expires_at is None
    assert account.config["api_host"] == "https://graph.facebook.com" and account.config["login"] == "facebook"
    assert account.config["page_id"] == "2121008874780933" and account.config["data_access_expires_at"]


def test_no_linked_account_is_said_clearly():
    replay = Replay(
        Expect("GET", f"{V}/oauth/access_token", {"access_token": "short"}),
        Expect("GET", f"{V}/oauth/access_token", load(FIXTURES, "long_term_token.json")),
        Expect("GET", f"{V}/debug_token", load(FIXTURES, "token_info.json")),
        Expect("GET", f"{V}/me/accounts", load(FIXTURES, "user_accounts_token.json")),
    )
    with replay.client() as http, pytest.raises(ConnectError) as caught:
        InstagramConnect().finish(redirect_uri=REDIRECT, params={"code": "c"}, kept={"login": "facebook"}, http=http)
    assert caught.value.code == "no_accounts" and "link the account" in caught.value.message


def test_against_the_simulator_both_ways():
    with SimulatorServer(networks=[GraphNetwork]) as server, httpx.Client() as http:
        connect = InstagramConnect(graph_host=server.url, token_host=server.url, facebook_graph_host=server.url)
        _url, kept = connect.start(redirect_uri=REDIRECT, state="s", form={})
        [by_instagram] = connect.finish(
            redirect_uri=REDIRECT, params={"code": "code-alice", "state": "s"}, kept=kept, http=http
        )
        _url, kept = connect.start(redirect_uri=REDIRECT, state="s", form={"login": "facebook"})
        [by_facebook] = connect.finish(
            redirect_uri=REDIRECT, params={"code": "code-alice", "state": "s"}, kept=kept, http=http
        )
        old = ChannelAccess(
            1,
            "instagram",
            by_instagram.config,
            {**by_instagram.credentials, "issued_at": "2026-01-01T00:00:00+00:00"},
        )
        assert connect.refresh(old, http).credentials["access_token"] == "tok-alice"
    assert by_instagram.remote_id == by_facebook.remote_id == ig_user_id_for("alice")
    assert by_instagram.credentials["access_token"] == by_facebook.credentials["access_token"] == "tok-alice"
