"""Connecting Facebook Pages: the dialog address, then the callback against recorded Graph answers."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ConnectError, ErrorKind, PublishError
from beffroi.networks.facebook.connect import FacebookConnect
from beffroi.networks.graph.tests.replay import Expect, Replay, load, meta_error
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, page_id_for

FIXTURES = Path(__file__).parent / "fixtures"
V = "/v24.0"
REDIRECT = "https://beffroi.exemple.fr/channels/connect/facebook/callback"


@pytest.fixture(autouse=True)
def meta_app(settings):
    settings.BEFFROI_GRAPH_API_VERSION = "v24.0"
    settings.BEFFROI_FACEBOOK_APP_ID = "123456"
    settings.BEFFROI_FACEBOOK_APP_SECRET = "app-secret-value"
    settings.BEFFROI_FACEBOOK_LOGIN_CONFIG_ID = ""


def test_start_sends_to_the_dialog_with_state_and_pkce():
    url, kept = FacebookConnect().start(redirect_uri=REDIRECT, state="st4te", form={})
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://www.facebook.com/v24.0/dialog/oauth"
    assert query["client_id"] == "123456" and query["redirect_uri"] == REDIRECT and query["state"] == "st4te"
    assert query["response_type"] == "code" and "pages_manage_posts" in query["scope"].split(",")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(kept["code_verifier"].encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == challenge.decode() and query["code_challenge_method"] == "S256"
    assert kept["state"] == "st4te" and "app-secret-value" not in url


def test_login_for_business_uses_its_configuration(settings):
    settings.BEFFROI_FACEBOOK_LOGIN_CONFIG_ID = "987"
    url, _ = FacebookConnect().start(redirect_uri=REDIRECT, state="s", form={})
    query = parse_qs(urlsplit(url).query)
    assert query["config_id"] == ["987"] and "scope" not in query


def test_a_missing_app_says_what_to_configure(settings):
    settings.BEFFROI_FACEBOOK_APP_ID = ""
    with pytest.raises(ConnectError) as caught:
        FacebookConnect().start(redirect_uri=REDIRECT, state="s", form={})
    assert caught.value.code == "app_not_configured"
    assert "BEFFROI_FACEBOOK_APP_ID" in caught.value.message and "BEFFROI_FACEBOOK_APP_SECRET" in caught.value.message


def finish_replay() -> Replay:
    return Replay(
        Expect(
            "GET", f"{V}/oauth/access_token", {"access_token": "short-user", "token_type": "bearer", "expires_in": 5183}
        ),
        Expect("GET", f"{V}/oauth/access_token", load(FIXTURES, "long_term_token.json")),
        Expect("GET", f"{V}/debug_token", load(FIXTURES, "token_info.json")),
        Expect("GET", f"{V}/me/accounts", load(FIXTURES, "user_accounts_token.json")),
    )


def test_finish_exchanges_the_code_and_gives_one_account_per_page():
    replay = finish_replay()
    kept = {"state": "st4te", "code_verifier": "verifier-123"}
    with replay.client() as http:
        accounts = FacebookConnect().finish(
            redirect_uri=REDIRECT, params={"code": "AQDcode", "state": "st4te"}, kept=kept, http=http
        )
    replay.assert_done()
    assert replay.params(0) == {
        "client_id": "123456",
        "redirect_uri": REDIRECT,
        "client_secret": "app-secret-value",
        "code": "AQDcode",
        "code_verifier": "verifier-123",
    }
    assert replay.params(1) == {
        "grant_type": "fb_exchange_token",
        "client_id": "123456",
        "client_secret": "app-secret-value",
        "fb_exchange_token": "short-user",
    }
    assert replay.params(2) == {"input_token": "token", "access_token": "123456|app-secret-value"}
    assert replay.requests[3].headers["Authorization"] == "Bearer token"  # the long-lived user token
    assert "access_token" in replay.params(3)["fields"] and "instagram_business_account" in replay.params(3)["fields"]
    [page] = accounts
    assert (page.remote_id, page.display_name) == ("2121008874780932", "MyLife")
    assert page.credentials == {"access_token": "access_token"}  # the Page token
    assert page.token_expires_at is None
    assert page.config["page_id"] == "2121008874780932" and "CREATE_CONTENT" in page.config["tasks"]
    assert page.config["data_access_expires_at"] == datetime.fromtimestamp(1585040349, UTC).isoformat()


def test_pages_where_the_person_cannot_publish_are_left_out():
    accounts = load(FIXTURES, "user_accounts_token.json")
    accounts["data"][0]["tasks"] = ["ANALYZE"]
    replay = finish_replay()
    replay.expected[-1].json = accounts
    with replay.client() as http, pytest.raises(ConnectError) as caught:
        FacebookConnect().finish(
            redirect_uri=REDIRECT, params={"code": "c", "state": "s"}, kept={"state": "s"}, http=http
        )
    assert caught.value.code == "no_accounts"


def test_refusals_and_forged_callbacks_make_no_call():
    replay = Replay()
    with replay.client() as http:
        for params, code in (
            (
                {
                    "error": "access_denied",
                    "error_reason": "user_denied",
                    "error_description": "Permissions error",
                    "state": "s",
                },
                "authorisation_refused",
            ),
            ({"code": "c", "state": "other"}, "state_mismatch"),
            ({"state": "s"}, "no_code"),
        ):
            with pytest.raises(ConnectError) as caught:
                FacebookConnect().finish(redirect_uri=REDIRECT, params=params, kept={"state": "s"}, http=http)
            assert caught.value.code == code and caught.value.message
    assert replay.requests == []


def test_an_expired_code_and_an_unreachable_meta():
    replay = Replay(
        Expect("GET", f"{V}/oauth/access_token", meta_error(100, "This authorization code has expired.", 36007), 400)
    )
    with replay.client() as http, pytest.raises(PublishError) as caught:
        FacebookConnect().finish(redirect_uri=REDIRECT, params={"code": "c"}, kept={}, http=http)
    assert caught.value.kind == ErrorKind.PERMANENT and "expired" in caught.value.message
    assert "app-secret-value" not in caught.value.request and "client_id=123456" in caught.value.request
    replay = Replay(Expect("GET", f"{V}/oauth/access_token", raises=httpx.ConnectError))
    with replay.client() as http, pytest.raises(PublishError) as caught:
        FacebookConnect().finish(redirect_uri=REDIRECT, params={"code": "c"}, kept={}, http=http)
    assert caught.value.kind == ErrorKind.RETRYABLE


def test_page_tokens_need_no_refresh():
    access = ChannelAccess(1, "facebook", {"page_id": "1"}, {"access_token": "t"})
    assert FacebookConnect().refresh(access, httpx.Client(transport=Replay().transport)) is None


def test_against_the_simulator():
    with SimulatorServer(networks=[GraphNetwork]) as server, httpx.Client() as http:
        connect = FacebookConnect(graph_host=server.url)
        _url, kept = connect.start(redirect_uri=REDIRECT, state="s", form={})
        [page] = connect.finish(
            redirect_uri=REDIRECT, params={"code": "code-alice", "state": "s"}, kept=kept, http=http
        )
        url = server.url
    assert page.remote_id == page_id_for("alice") and page.credentials == {"access_token": "tok-alice"}
    assert page.config["api_host"] == url and page.config["data_access_expires_at"]
