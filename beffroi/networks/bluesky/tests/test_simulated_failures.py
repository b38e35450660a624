"""Failures a real PDS cannot be made to produce (429, 5xx, answers lost after the commit, BlobTooLarge), against
the simulator's Bluesky network."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from itertools import count

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, PublishError, PublishJob
from beffroi.networks.bluesky.connector import BlueskyConnector
from beffroi.simulator.bluesky import BlueskyNetwork
from beffroi.simulator.server import SimulatorServer

_ids = count(1)


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(networks=[BlueskyNetwork]) as server:
        yield server


@pytest.fixture
def sim(server):
    server.reset()
    server.configure(
        error_rate=0.0, timeout_after_commit_rate=0.0, drop_after_commit_rate=0.0, rate_limit=None, stall_s=30.0
    )
    return server


def session(sim, handle: str = "alice.test", password: str = "app-pass-word") -> dict:
    response = httpx.post(
        f"{sim.url}/xrpc/com.atproto.server.createSession", json={"identifier": handle, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        "identifier": handle,
        "app_password": password,
        "access_jwt": body["accessJwt"],
        "refresh_jwt": body["refreshJwt"],
        "did": body["did"],
        "service": sim.url,
    }


def job(sim, credentials: dict, text: str, *, attempt: int = 1, publication_id: int | None = None, **kw) -> PublishJob:
    publication_id = publication_id or next(_ids)
    return PublishJob(
        channel_id=publication_id,
        network="bluesky",
        config={"handle": credentials["identifier"], "did": credentials["did"], "service": sim.url},
        credentials=credentials,
        publication_id=publication_id,
        fence=1,
        attempt=attempt,
        text=text,
        idempotency_key=f"beffroi-publication-{publication_id}",
        due_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        claimed_at=datetime.now(UTC),
        **kw,
    )


def call(coroutine_function, *args, timeout: float = 10.0):
    async def main():
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0)) as http:
            return await coroutine_function(http, *args)

    return asyncio.run(main())


def test_rate_limited_is_retryable_with_the_reset_time(sim):
    credentials = session(sim)
    sim.configure(rate_limit=0, rate_window_s=120)
    with pytest.raises(PublishError) as error:
        call(BlueskyConnector().publish, job(sim, credentials, "Trop vite"))
    assert error.value.kind == ErrorKind.RETRYABLE
    assert error.value.code == "rate_limited"
    assert error.value.response_status == 429
    window_end = (int(time.time()) // 120 + 1) * 120
    assert error.value.retry_after is not None and 0 < error.value.retry_after <= window_end - time.time() + 1
    assert sim.posts() == []


def test_a_server_error_is_ambiguous_and_the_re_send_publishes_once(sim):
    credentials = session(sim)
    connector = BlueskyConnector()
    sim.configure(error_rate=1.0)
    first = job(sim, credentials, "Erreur serveur")
    with pytest.raises(PublishError) as error:
        call(connector.publish, first)
    assert error.value.kind == ErrorKind.AMBIGUOUS
    assert error.value.code == "server_error" and error.value.response_status == 503
    access = ChannelAccess(first.channel_id, "bluesky", first.config, credentials)
    assert call(connector.recent_posts, access) == []  # read back: not there (the proxy refused it)
    sim.configure(error_rate=0.0)
    again = job(sim, credentials, first.text, attempt=2, publication_id=first.publication_id)
    published = call(connector.publish, again)
    assert [post["id"] for post in sim.posts()] == [published.remote_id]


@pytest.mark.parametrize("fault", ["timeout_after_commit_rate", "drop_after_commit_rate"])
def test_an_answer_lost_after_the_commit_is_ambiguous_and_the_post_is_found(sim, fault):
    credentials = session(sim)
    connector = BlueskyConnector()
    sim.configure(**{fault: 1.0, "stall_s": 5.0})
    first = job(sim, credentials, f"Perdu en route ({fault})", options={"thread": ["suite"]})
    with pytest.raises(PublishError) as error:
        call(connector.publish, first, timeout=0.5)
    assert error.value.kind == ErrorKind.AMBIGUOUS
    assert error.value.code == "no_answer"
    sim.configure(**{fault: 0.0})
    access = ChannelAccess(first.channel_id, "bluesky", first.config, credentials)
    recent = call(connector.recent_posts, access)
    assert [post.text for post in recent] == [first.text]  # the reconciliation finds it
    # A re-send goes on with the thread from where it stopped, without a second first post.
    published = call(
        connector.publish,
        job(sim, credentials, first.text, attempt=2, publication_id=first.publication_id, options=first.options),
    )
    assert published.remote_id == recent[0].remote_id
    assert sorted(post["text"] for post in sim.posts()) == sorted([first.text, "suite"])
    assert sim.stats()["duplicates"] == 0


def test_a_picture_the_network_finds_too_big_is_permanent(sim, tmp_path):
    credentials = session(sim)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + os.urandom(1_200_000))
    item = MediaItem("image", "image/jpeg", big.stat().st_size, path=str(big), width=10, height=10, alt_text="x")
    with pytest.raises(PublishError) as error:
        call(BlueskyConnector(max_image_bytes=None).publish, job(sim, credentials, "Lourd", media=[item]))
    assert error.value.kind == ErrorKind.PERMANENT
    assert error.value.code == "media_too_big"
    assert error.value.response_status == 400 and "BlobTooLarge" in error.value.response
    assert sim.posts() == []


def test_a_revoked_app_password_needs_reconnection(sim):
    credentials = session(sim, password="soon-revoked")
    sim.configure(revoked_tokens=[credentials["access_jwt"], credentials["refresh_jwt"], "soon-revoked"])
    try:
        with pytest.raises(PublishError) as error:
            call(BlueskyConnector().publish, job(sim, credentials, "Refusé"))
    finally:
        sim.configure(revoked_tokens=[])
    assert error.value.kind == ErrorKind.PERMANENT and error.value.needs_reconnection
    assert sim.posts() == []
