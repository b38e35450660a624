"""The Bluesky connector and connection against a real local PDS (see conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import httpx
import pytest
from PIL import Image

from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, PublishError, PublishJob
from beffroi.networks.bluesky.connect import BlueskyConnect, ConnectError, check_service
from beffroi.networks.bluesky.connector import BlueskyConnector, record_key, split_uri

_publications = count(1)


def run(coroutine):
    return asyncio.run(coroutine)


async def _with_http(function, *args):
    async with httpx.AsyncClient(timeout=30) as http:
        return await function(http, *args)


def credentials(account, **changes) -> dict:
    return {
        "identifier": account.handle,
        "app_password": account.app_password,
        "access_jwt": account.access_jwt,
        "refresh_jwt": account.refresh_jwt,
        "did": account.did,
        "service": account.pds.url,
        **changes,
    }


def job_for(account, text: str, *, attempt: int = 1, publication_id: int | None = None, **kwargs) -> PublishJob:
    publication_id = publication_id or next(_publications) + os.getpid() * 1000
    now = datetime.now(UTC)
    return PublishJob(
        channel_id=publication_id,
        network="bluesky",
        config={"handle": account.handle, "did": account.did, "service": account.pds.url},
        credentials=kwargs.pop("credentials", None) or credentials(account),
        publication_id=publication_id,
        fence=1,
        attempt=attempt,
        text=text,
        idempotency_key=f"beffroi-publication-{publication_id}",
        due_at=kwargs.pop("due_at", now.replace(microsecond=0)),
        claimed_at=now,
        **kwargs,
    )


def publish(connector, job):
    return run(_with_http(connector.publish, job))


def record_of(pds, uri: str) -> dict:
    response = pds.get_record(uri)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def byte_span(text: str, part: str, occurrence: int = 0) -> tuple[int, int]:
    """Byte offsets of `part` in `text`, computed on the encoded bytes (independently of the connector)."""
    data, needle = text.encode("utf-8"), part.encode("utf-8")
    start = -1
    for _ in range(occurrence + 1):
        start = data.index(needle, start + 1)
    return start, start + len(needle)


def facet_summary(record: dict) -> list[tuple[int, int, str, str]]:
    summary = []
    for facet in record.get("facets") or []:
        assert len(facet["features"]) == 1
        feature = facet["features"][0]
        kind = feature["$type"].split("#")[1]
        value = feature.get("uri") or feature.get("did") or feature.get("tag")
        summary.append((facet["index"]["byteStart"], facet["index"]["byteEnd"], kind, value))
    return summary


# Connecting ----------------------------------------------------------------------------------------------------


def test_connect_with_an_app_password_and_refresh(pds, alice, settings):
    settings.BLUESKY_ALLOW_PRIVATE_SERVICES = True
    connect = BlueskyConnect()
    assert connect.start(redirect_uri="", state="s", form={}) == ("", {})
    with httpx.Client(timeout=30) as http:
        [account] = connect.finish(
            redirect_uri="",
            params={"handle": "@" + alice.handle, "app_password": alice.app_password, "service": pds.url},
            kept={},
            http=http,
        )
        assert account.remote_id == alice.did
        assert account.handle == alice.handle
        assert account.config == {"service": pds.url, "did": alice.did, "handle": alice.handle}
        assert set(account.credentials) == {"identifier", "app_password", "access_jwt", "refresh_jwt", "did", "service"}
        assert account.token_expires_at is not None
        # The session lives as long as its refresh token (about 90 days on a PDS), not the 2-hour access token.
        assert (
            datetime.now(UTC) + timedelta(days=30) < account.token_expires_at < datetime.now(UTC) + timedelta(days=200)
        )

        access = ChannelAccess(1, "bluesky", account.config, account.credentials)
        refreshed = connect.refresh(access, http)
        assert refreshed is not None and refreshed.remote_id == alice.did
        # A new refresh token (rotated); the access token may be byte-identical within the same second.
        assert refreshed.credentials["refresh_jwt"] != account.credentials["refresh_jwt"]
        assert refreshed.token_expires_at is not None
        assert refreshed.credentials["app_password"] == alice.app_password

        with pytest.raises(ConnectError) as refused:
            connect.finish(
                redirect_uri="",
                params={"handle": alice.handle, "app_password": "aaaa-bbbb-cccc-dddd", "service": pds.url},
                kept={},
                http=http,
            )
        assert refused.value.code == "wrong_password"


def test_local_servers_are_refused_unless_allowed(settings):
    settings.DEBUG = False
    settings.BLUESKY_ALLOW_PRIVATE_SERVICES = False
    with pytest.raises(ConnectError) as error:
        check_service("http://localhost:2583")
    assert error.value.code == "invalid_service"
    with pytest.raises(ConnectError) as error:
        check_service("https://127.0.0.1")
    assert error.value.code == "service_not_public"
    settings.BLUESKY_ALLOW_PRIVATE_SERVICES = True
    assert check_service("http://localhost:2583/") == "http://localhost:2583"


# Publishing ----------------------------------------------------------------------------------------------------


def test_links_mentions_and_hashtags_become_facets_with_byte_offsets(pds, alice, bob):
    link = "https://example.org/café?q=1"
    text = (
        f"#début Voilà 🇫🇷 un lien {link}, pour @{bob.handle} et @nobody-here.test 👩‍👩‍👧 "
        f"(é et e\u0301) et aussi @{bob.handle}! #fin"
    )
    connector = BlueskyConnector()
    published = publish(connector, job_for(alice, text, options={"language": "fr"}))

    assert published.remote_id.startswith(f"at://{alice.did}/app.bsky.feed.post/")
    assert published.url == f"https://bsky.app/profile/{alice.handle}/post/{split_uri(published.remote_id)[2]}"
    record = record_of(pds, published.remote_id)
    assert record["text"] == text
    assert record["langs"] == ["fr"]
    assert facet_summary(record) == [
        (*byte_span(text, "#début"), "tag", "début"),
        (*byte_span(text, link), "link", link),
        (*byte_span(text, f"@{bob.handle}"), "mention", bob.did),
        (*byte_span(text, f"@{bob.handle}", 1), "mention", bob.did),
        (*byte_span(text, "#fin"), "tag", "fin"),
    ]
    assert byte_span(text, "#début") == (0, len("#début".encode()))
    assert byte_span(text, "#fin")[1] == len(text.encode())


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, colour).save(path, "PNG")
    return path


def test_pictures_with_alt_text_and_aspect_ratio(pds, alice, tmp_path):
    png = _png(tmp_path / "a.png", (640, 480), (10, 200, 30))
    jpeg = tmp_path / "b.jpg"
    Image.new("RGB", (300, 600), (200, 40, 60)).save(jpeg, "JPEG")
    media = [
        MediaItem("image", "image/png", png.stat().st_size, path=str(png), width=640, height=480, alt_text="Un pré"),
        # No dimensions given: read from the file.
        MediaItem("image", "image/jpeg", jpeg.stat().st_size, path=str(jpeg), alt_text="A red rectangle"),
    ]
    published = publish(BlueskyConnector(), job_for(alice, "Deux images", media=media))
    embed = record_of(pds, published.remote_id)["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [image["alt"] for image in embed["images"]] == ["Un pré", "A red rectangle"]
    assert [image["aspectRatio"] for image in embed["images"]] == [
        {"width": 640, "height": 480},
        {"width": 300, "height": 600},
    ]
    for image, item in zip(embed["images"], media, strict=True):
        assert image["image"]["mimeType"] == item.mime_type
        assert image["image"]["size"] == item.size
        blob = httpx.get(
            pds.xrpc("com.atproto.sync.getBlob"), params={"did": alice.did, "cid": image["image"]["ref"]["$link"]}
        )
        assert blob.status_code == 200
        assert blob.content == Path(item.path).read_bytes()


def test_a_picture_over_one_megabyte_is_refused_permanently(pds, alice, tmp_path):
    noisy = tmp_path / "noise.png"
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(noisy, "PNG")
    assert 1_000_000 < noisy.stat().st_size < 5_000_000
    item = MediaItem("image", "image/png", noisy.stat().st_size, path=str(noisy), alt_text="Noise")
    job = job_for(alice, "Trop lourd", media=[item])
    with pytest.raises(PublishError) as error:
        publish(BlueskyConnector(), job)
    assert error.value.kind == ErrorKind.PERMANENT
    assert error.value.code == "media_too_big"
    assert "too big" in error.value.message
    # Refused before uploading: this PDS would take the blob and the post, but the Bluesky app shows no picture
    # over 1,000,000 bytes (bsky.social refuses it with BlobTooLarge; see the simulator's test).
    assert pds.list_records(alice.did) == []


def test_a_thread_of_three_with_root_and_parent_references(pds, alice):
    job = job_for(alice, "1/3 Début du fil", options={"thread": ["2/3 Suite", "3/3 Fin #fil"]})
    published = publish(BlueskyConnector(), job)
    records = {item["uri"]: item for item in pds.list_records(alice.did)}
    assert len(records) == 3
    root = records[published.remote_id]
    assert "reply" not in root["value"]
    second = next(r for r in records.values() if r["value"]["text"] == "2/3 Suite")
    third = next(r for r in records.values() if r["value"]["text"] == "3/3 Fin #fil")
    root_ref = {"uri": root["uri"], "cid": root["cid"]}
    assert second["value"]["reply"] == {"root": root_ref, "parent": root_ref}
    assert third["value"]["reply"] == {"root": root_ref, "parent": {"uri": second["uri"], "cid": second["cid"]}}
    assert facet_summary(third["value"]) == [(*byte_span("3/3 Fin #fil", "#fil"), "tag", "fil")]


@pytest.mark.parametrize(
    ("control", "allow"),
    [
        ("nobody", []),
        ("mentioned", [{"$type": "app.bsky.feed.threadgate#mentionRule"}]),
        ("following", [{"$type": "app.bsky.feed.threadgate#followingRule"}]),
    ],
)
def test_reply_controls_are_a_threadgate_with_the_post_record_key(pds, alice, control, allow):
    published = publish(BlueskyConnector(), job_for(alice, f"Réponses : {control}", options={"reply_control": control}))
    did, _, rkey = split_uri(published.remote_id)
    gate = record_of(pds, f"at://{did}/app.bsky.feed.threadgate/{rkey}")
    assert gate["post"] == published.remote_id
    assert gate["allow"] == allow


def test_everyone_may_reply_needs_no_threadgate(pds, alice):
    published = publish(BlueskyConnector(), job_for(alice, "Ouvert à tous", options={"reply_control": "everyone"}))
    assert pds.list_records(alice.did, "app.bsky.feed.threadgate") == []
    assert record_of(pds, published.remote_id)["text"] == "Ouvert à tous"


def test_sending_the_same_publication_again_makes_no_second_post(pds, alice):
    connector = BlueskyConnector()
    job = job_for(alice, "Une seule fois", options={"thread": ["et sa suite"], "reply_control": "nobody"})
    first = publish(connector, job)
    # A re-send after an ambiguous outcome (attempt 2: the connector looks for the record key first)…
    again = publish(connector, job_for(alice, job.text, attempt=2, publication_id=job.publication_id, **_same(job)))
    # …and a duplicate of the very same attempt (the PDS refuses the taken record key; the connector reads it).
    twice = publish(connector, job_for(alice, job.text, attempt=1, publication_id=job.publication_id, **_same(job)))
    assert first.remote_id == again.remote_id == twice.remote_id
    assert first.remote_id.endswith("/" + record_key(job.idempotency_key, 0, job.due_at))
    assert sorted(r["value"]["text"] for r in pds.list_records(alice.did)) == ["Une seule fois", "et sa suite"]
    assert len(pds.list_records(alice.did, "app.bsky.feed.threadgate")) == 1


def _same(job: PublishJob) -> dict:
    return {"options": job.options, "due_at": job.due_at}


def test_recent_posts_and_delete(pds, alice):
    connector = BlueskyConnector()
    job = job_for(alice, "À supprimer", options={"thread": ["réponse"], "reply_control": "mentioned"})
    published = publish(connector, job)
    other = publish(connector, job_for(alice, "Reste là"))
    access = ChannelAccess(job.channel_id, "bluesky", job.config, job.credentials)

    recent = run(_with_http(connector.recent_posts, access))
    found = next(post for post in recent if post.remote_id == published.remote_id)
    assert found.text == "À supprimer"
    assert found.url == published.url
    assert found.created_at is not None and abs(found.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert {post.text for post in recent} == {"À supprimer", "réponse", "Reste là"}

    run(_with_http(connector.delete, access, published.remote_id))
    missing = pds.get_record(published.remote_id)
    assert missing.status_code == 400 and missing.json()["error"] == "RecordNotFound"
    assert pds.list_records(alice.did, "app.bsky.feed.threadgate") == []
    assert [r["uri"] for r in pds.list_records(alice.did)] == [other.remote_id]  # the thread's reply went too
    run(_with_http(connector.delete, access, published.remote_id))  # deleting again is harmless
    assert [post.remote_id for post in run(_with_http(connector.recent_posts, access))] == [other.remote_id]


# Sessions ------------------------------------------------------------------------------------------------------


def _expired_jwt(did: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'sub': did, 'exp': 1_600_000_000})}.c2ln"


@pytest.mark.parametrize("access_jwt", ["expired", "garbage"])
def test_an_unusable_access_token_is_refreshed(pds, alice, access_jwt):
    token = _expired_jwt(alice.did) if access_jwt == "expired" else "not-a-token"
    connector = BlueskyConnector()
    job = job_for(alice, f"Après rafraîchissement ({access_jwt})", credentials=credentials(alice, access_jwt=token))
    published = publish(connector, job)
    assert record_of(pds, published.remote_id)["text"] == job.text
    fresh = connector.sessions.refreshed_credentials(job)
    assert fresh is not None and fresh["access_jwt"] != token
    assert fresh["refresh_jwt"] != alice.refresh_jwt
    # The next publish of that channel uses the refreshed session: no second refresh.
    publish(connector, job_for(alice, "Encore", publication_id=job.publication_id + 10**6, credentials=job.credentials))
    assert connector.sessions.refreshed_credentials(job) == fresh


def test_a_dead_refresh_token_falls_back_to_the_app_password(pds, alice):
    connector = BlueskyConnector()
    job = job_for(alice, "Nouvelle session", credentials=credentials(alice, access_jwt="x.y.z", refresh_jwt="dead"))
    published = publish(connector, job)
    assert record_of(pds, published.remote_id)["text"] == "Nouvelle session"
    assert connector.sessions.refreshed_credentials(job)["refresh_jwt"] != "dead"


def test_a_revoked_app_password_needs_reconnection(pds, alice):
    with httpx.Client(timeout=30) as http:
        session = http.post(
            pds.xrpc("com.atproto.server.createSession"),
            json={"identifier": alice.handle, "password": alice.app_password},
        ).json()
    alice.revoke_app_password()
    job = job_for(
        alice,
        "Jamais publié",
        # Access tokens are stateless until they expire (2 h): an expired one makes the connector use the refresh
        # token, which the revocation killed, then the app password, refused.
        credentials=credentials(alice, access_jwt=_expired_jwt(alice.did), refresh_jwt=session["refreshJwt"]),
    )
    with pytest.raises(PublishError) as error:
        publish(BlueskyConnector(), job)
    assert error.value.kind == ErrorKind.PERMANENT
    assert error.value.needs_reconnection
    assert error.value.code == "needs_reconnection"
    assert "reconnect" in error.value.message
    assert alice.app_password not in error.value.response + error.value.request
    assert pds.list_records(alice.did) == []
