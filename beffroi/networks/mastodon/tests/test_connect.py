"""Connecting a Mastodon account: the address guard, the recorded OAuth exchange of a real instance, and the whole
flow (authorisation page included) against the simulator."""

from __future__ import annotations

import base64
import hashlib
import socket
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from beffroi.channels.models import OAuthApp
from beffroi.networks import validation
from beffroi.networks.mastodon.capabilities import CAPABILITIES
from beffroi.networks.mastodon.connect import (
    SCOPES,
    ConnectError,
    MastodonConnect,
    check_public_host,
    is_public_address,
    normalise_instance,
)
from beffroi.networks.mastodon.tests.replay import Replay, recorded
from beffroi.simulator import SimulatorServer

REDIRECT = "https://beffroi.example/channels/connect/mastodon/callback"
RECORDED_CLIENT_ID = "fDxNVpAKndzIaejMXx_4VtT9id0zUSK6Q8MTP1gEw8A"  # test_app_account_create.yaml


def resolver(*addresses: str):
    def resolve(host, port, type=0):  # noqa: A002 — getaddrinfo's own parameter name
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolve


PUBLIC = resolver("151.101.2.132")


# The address guard ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "100.64.0.1",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address):
    assert not is_public_address(address)
    with pytest.raises(ConnectError) as caught:
        check_public_host("mastodon.example", resolve=resolver("151.101.2.132", address))
    assert caught.value.code == "instance_not_public"


@pytest.mark.parametrize("address", ["151.101.2.132", "2a04:4e42::644", "172.32.0.1", "192.169.0.1"])
def test_public_addresses_pass(address):
    assert is_public_address(address)
    check_public_host("mastodon.example", resolve=resolver(address))


def test_literal_addresses_are_checked_without_resolving():
    def never(*args, **kwargs):
        raise AssertionError("no DNS for a literal address")

    with pytest.raises(ConnectError):
        check_public_host("127.0.0.1", resolve=never)
    with pytest.raises(ConnectError):
        check_public_host("[::1]", resolve=never)


def test_an_unknown_name_is_a_clear_error():
    def fail(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    with pytest.raises(ConnectError) as caught:
        check_public_host("nowhere.invalid", resolve=fail)
    assert caught.value.code == "instance_unreachable"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("  https://Mastodon.Social/  ", "https://mastodon.social"),
        ("@someone@piaille.fr", "https://piaille.fr"),
        ("someone@piaille.fr", "https://piaille.fr"),
        ("https://social.example:8443", "https://social.example:8443"),
        ("https://social.example:443", "https://social.example"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_instance_addresses_are_normalised(typed, expected):
    assert normalise_instance(typed)[0] == expected


@pytest.mark.parametrize(
    "typed", ["", "http://mastodon.social", "ftp://x.example", "https://x.example/path", "https://u:p@x.example"]
)
def test_non_https_or_odd_addresses_are_refused(typed):
    with pytest.raises(ConnectError) as caught:
        normalise_instance(typed)
    assert caught.value.code == "instance_invalid"


def test_start_refuses_a_private_instance_unless_allowed(settings):
    settings.DEBUG = False
    with pytest.raises(ConnectError) as caught:
        MastodonConnect(resolve=resolver("10.0.0.5")).start(
            redirect_uri=REDIRECT, state="s", form={"instance": "x.lan"}
        )
    assert caught.value.code == "instance_not_public"
    settings.MASTODON_ALLOW_PRIVATE_INSTANCES = True
    assert MastodonConnect().instance_url("http://127.0.0.1:3000") == "http://127.0.0.1:3000"


# The OAuth exchange, replayed ----------------------------------------------------------------------------------


def recorded_instance(replay: Replay) -> Replay:
    replay.add("GET", "/api/v2/instance", recorded("test_instance.yaml", "GET", "/api/v2/instance"), repeat=True)
    replay.add("POST", "/api/v1/apps", recorded("test_app_account_create.yaml", "POST", "/api/v1/apps"))
    return replay


@pytest.fixture
def replay():
    replay = Replay()
    yield replay
    assert not replay.unexpected, f"requests nothing answered: {replay.unexpected}"


@pytest.mark.django_db
def test_start_registers_the_app_once_and_builds_a_pkce_authorisation_address(replay):
    recorded_instance(replay)
    with replay.sync_client() as http:
        connect = MastodonConnect(http, resolve=PUBLIC)
        url, kept = connect.start(redirect_uri=REDIRECT, state="state-1", form={"instance": "mastodon.example"})
        again, kept_again = connect.start(redirect_uri=REDIRECT, state="state-2", form={"instance": "mastodon.example"})
    assert len(replay.requests("POST", "/api/v1/apps")) == 1  # the second start reused the stored app
    [app] = OAuthApp.objects.all()
    assert (app.network, app.server, app.redirect_uri, app.scopes) == (
        "mastodon",
        "https://mastodon.example",
        REDIRECT,
        SCOPES,
    )
    assert app.client_id == RECORDED_CLIENT_ID and app.client_secret == "uXrY0Cwg-KRRWz8L9-76lA9DyStb48o0s1VhsLEhmrY"
    assert "uXrY0Cwg" not in app.client_secret_encrypted  # stored encrypted
    registration = replay.requests("POST", "/api/v1/apps")[0].form()
    assert registration["redirect_uris"] == [REDIRECT] and registration["scopes"] == [SCOPES]
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://mastodon.example/oauth/authorize"
    assert query["client_id"] == RECORDED_CLIENT_ID and query["state"] == "state-1"
    assert query["response_type"] == "code" and query["scope"] == SCOPES and query["redirect_uri"] == REDIRECT
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(kept["code_verifier"].encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(kept["code_verifier"]) <= 128 and kept_again["code_verifier"] != kept["code_verifier"]
    assert "client_secret" not in str(kept)  # the session never holds the secret
    assert kept["instance_url"] == "https://mastodon.example" and kept["domain"] == "localhost:3000"
    assert kept["limits"]["max_characters"] == 500 and kept["limits"]["max_media_attachments"] == 4
    assert kept["limits"]["image_size_limit"] == 16777216 and "video/mp4" in kept["limits"]["supported_mime_types"]
    assert "audio/mp3" not in kept["limits"]["supported_mime_types"]


@pytest.mark.django_db
def test_finish_exchanges_the_code_with_its_verifier_and_reads_the_account(replay):
    recorded_instance(replay)
    replay.add("POST", "/oauth/token", recorded("test_app_account_create.yaml", "POST", "/oauth/token"))
    replay.add("GET", "/api/v1/accounts/verify_credentials", recorded("test_verify_credentials.yaml", "GET", "/"))
    with replay.sync_client() as http:
        connect = MastodonConnect(http, resolve=PUBLIC)
        _, kept = connect.start(redirect_uri=REDIRECT, state="s", form={"instance": "https://mastodon.example/"})
        [account] = connect.finish(
            redirect_uri=REDIRECT, params={"code": "the-code", "state": "s"}, kept=kept, http=http
        )
    exchange = replay.requests("POST", "/oauth/token")[0].form()
    assert exchange["grant_type"] == ["authorization_code"] and exchange["code"] == ["the-code"]
    assert exchange["code_verifier"] == [kept["code_verifier"]] and exchange["redirect_uri"] == [REDIRECT]
    assert exchange["client_id"] == [RECORDED_CLIENT_ID] and exchange["client_secret"][0].startswith("uXrY0")
    verify = replay.requests("GET", "/api/v1/accounts/verify_credentials")[0]
    assert verify.headers["Authorization"] == "Bearer G6pQOqoumRnRqY02PEer353DVp6bsdSiXGJBQNIUgVk"
    assert account.remote_id == "117440810532227399" and account.handle == "@mastodonpy_test@localhost:3000"
    assert account.display_name == "mastodonpy_test"  # no display name set: the username
    assert account.credentials == {"access_token": "G6pQOqoumRnRqY02PEer353DVp6bsdSiXGJBQNIUgVk"}
    assert account.token_expires_at is None
    assert account.config["instance_url"] == "https://mastodon.example"
    assert account.config["account_id"] == "117440810532227399" and account.config["max_characters"] == 500
    assert connect.refresh(None, http) is None  # type: ignore[arg-type]


@pytest.mark.django_db
def test_a_refused_authorisation_is_a_clear_error(replay):
    kept = {"instance_url": "https://mastodon.example", "client_id": "x", "code_verifier": "v"}
    with replay.sync_client() as http:
        connect = MastodonConnect(http, resolve=PUBLIC)
        with pytest.raises(ConnectError) as caught:
            connect.finish(redirect_uri=REDIRECT, params={"error": "access_denied", "state": "s"}, kept=kept, http=http)
    assert caught.value.code == "access_denied" and "cancelled" in caught.value.message
    assert replay.seen == []


# The whole flow against the simulator --------------------------------------------------------------------------


@pytest.fixture
def sim():
    with SimulatorServer() as server:
        yield server


def follow_authorisation(url: str, **extra: str) -> dict[str, str]:
    """What the person's browser does: open the authorisation page, come back with the callback's query."""
    response = httpx.get(f"{url}&{urlencode(extra)}" if extra else url)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.geturl().startswith(REDIRECT)
    return {key: values[0] for key, values in parse_qs(location.query).items()}


@pytest.mark.django_db
def test_the_whole_connection_against_the_simulator_uses_the_instance_limit(sim):
    sim.configure(max_characters=1000)
    with httpx.Client(timeout=5) as http:
        connect = MastodonConnect(http, allow_private=True)
        url, kept = connect.start(redirect_uri=REDIRECT, state="xyz", form={"instance": sim.url})
        params = follow_authorisation(url, login_as="alice")
        assert params["state"] == "xyz"
        [account] = connect.finish(redirect_uri=REDIRECT, params=params, kept=kept, http=http)
    assert account.credentials == {"access_token": "tok-alice"} and account.handle.startswith("@alice@127.0.0.1:")
    assert account.config["max_characters"] == 1000 and account.config["poll_max_options"] == 4
    text = "a" * 700
    assert not validation.check_post(CAPABILITIES, text).ok  # a stock instance's 500
    assert validation.check_post(CAPABILITIES, text, limit=account.config["max_characters"]).ok
    assert sim.stats()["networks"]["mastodon"]["apps"] == 1


@pytest.mark.django_db
def test_a_wrong_verifier_or_a_refusal_on_the_simulator(sim):
    with httpx.Client(timeout=5) as http:
        connect = MastodonConnect(http, allow_private=True)
        url, kept = connect.start(redirect_uri=REDIRECT, state="s", form={"instance": sim.url})
        params = follow_authorisation(url)
        with pytest.raises(ConnectError) as caught:
            connect.finish(redirect_uri=REDIRECT, params=params, kept={**kept, "code_verifier": "x" * 50}, http=http)
        assert caught.value.code == "token_exchange_failed" and "invalid" in caught.value.message
        refused = follow_authorisation(url, deny="1")
        with pytest.raises(ConnectError) as caught:
            connect.finish(redirect_uri=REDIRECT, params=refused, kept=kept, http=http)
        assert caught.value.code == "access_denied"
