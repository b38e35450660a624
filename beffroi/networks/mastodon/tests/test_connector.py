"""The Mastodon connector against recorded answers of a real instance (cassettes/SOURCE.md) and, for what was
never recorded (rate limits, 5xx, timeouts after commit, media processing delays), against the simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, PublishError, PublishJob
from beffroi.networks.mastodon.connector import MastodonConnector
from beffroi.networks.mastodon.tests.replay import Replay, recorded
from beffroi.publishing.models import fingerprint
from beffroi.simulator import SimulatorServer

INSTANCE = "https://mastodon.example"
ACCOUNT_ID = "117440810532227399"  # the recorded account (mastodonpy_test)
MEDIA_CASSETTE = "test_media_post[True].yaml"
DELETE_CASSETTE = "test_status_delete_media.yaml"


def make_job(text: str = "Toot!", *, base: str = INSTANCE, token: str = "secret-token", **fields) -> PublishJob:
    return PublishJob(
        channel_id=1,
        network="mastodon",
        config={"instance_url": base, "account_id": fields.pop("account_id", ACCOUNT_ID)},
        credentials={"access_token": token},
        publication_id=1,
        fence=1,
        attempt=1,
        text=text,
        idempotency_key=fields.pop("idempotency_key", "publication-1-key"),
        due_at=None,
        claimed_at=datetime.now(UTC),
        **fields,
    )


@pytest.fixture
def replay():
    replay = Replay()
    yield replay
    assert not replay.unexpected, f"requests nothing answered: {replay.unexpected}"


@pytest.fixture
def sim():
    with SimulatorServer() as server:
        yield server


def publish(replay_or_url, job: PublishJob, connector: MastodonConnector | None = None, *, timeout: float = 5.0):
    connector = connector or MastodonConnector()

    async def main():
        if isinstance(replay_or_url, Replay):
            client = replay_or_url.async_client()
        else:
            client = httpx.AsyncClient(timeout=timeout)
        async with client as http:
            return await connector.publish(http, job)

    return asyncio.run(main())


def call(method: str, replay: Replay | None, *args, connector: MastodonConnector | None = None):
    """A connector method with the replay's client, or with a real one (None: the simulator)."""
    connector = connector or MastodonConnector()

    async def main():
        client = replay.async_client() if replay is not None else httpx.AsyncClient(timeout=5)
        async with client as http:
            return await getattr(connector, method)(http, *args)

    return asyncio.run(main())


def failure(function, *args, **kwargs) -> PublishError:
    with pytest.raises(PublishError) as caught:
        function(*args, **kwargs)
    return caught.value


# Publishing, replayed ------------------------------------------------------------------------------------------


def test_a_text_status_is_sent_with_its_idempotency_key(replay):
    replay.add("POST", "/api/v1/statuses", recorded(DELETE_CASSETTE, "POST", "/api/v1/statuses"))
    published = publish(replay, make_job("Toot!"))
    assert published.remote_id == "117440832993669953"
    assert published.url == "http://localhost:3000/@mastodonpy_test/117440832993669953"
    assert published.response_status == 200 and "Idempotency-Key: publication-1-key" in published.request
    [sent] = replay.seen
    assert sent.path == "/api/v1/statuses" and sent.form() == {"status": ["Toot!"], "visibility": ["public"]}
    assert sent.headers["Idempotency-Key"] == "publication-1-key"
    assert sent.headers["Authorization"] == "Bearer secret-token"


def test_a_video_answered_202_is_polled_until_ready_then_attached(replay, tmp_path):
    replay.cassette(MEDIA_CASSETTE, only=("/api/v2/media", "/api/v1/media", "/api/v1/statuses"))
    video = tmp_path / "cat.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    job = make_job(
        "LOL check this out",
        media=[MediaItem("video", "video/mp4", video.stat().st_size, path=str(video), alt_text="me when a cat")],
    )
    published = publish(replay, job, MastodonConnector(sleep=sleep))
    assert published.remote_id == "117440821197397638"
    upload, poll, status = replay.seen
    parts = upload.multipart()
    assert parts["file"] == video.read_bytes() and parts["description"] == b"me when a cat"
    assert b'filename="cat.mp4"' in upload.content and b"Content-Type: video/mp4" in upload.content
    assert poll.method == "GET" and poll.path == "/api/v1/media/117440819877733537"
    assert status.form()["media_ids[]"] == ["117440819877733537"]
    assert pauses == [0.5]  # one short pause before the first look


def test_a_picture_answered_200_is_attached_at_once(replay, tmp_path):
    replay.add("POST", "/api/v2/media", recorded(DELETE_CASSETTE, "POST", "/api/v2/media"))
    replay.add("POST", "/api/v1/statuses", recorded(DELETE_CASSETTE, "POST", "/api/v1/statuses", index=1))
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    job = make_job("Status with media", media=[MediaItem("image", "image/jpeg", 10, path=str(picture))])
    assert publish(replay, job).remote_id == "117440833005109322"
    upload, status = replay.seen
    assert "description" not in upload.multipart()  # no alt text: no empty description either
    assert status.form()["media_ids[]"] == ["117440833002185062"]


def test_content_warning_visibility_language_and_sensitive_are_sent(replay):
    answer = recorded("test_status_post[Content warning-unlisted].yaml", "POST", "/api/v1/statuses")
    replay.add("POST", "/api/v1/statuses", answer)
    options = {"content_warning": "Content warning", "visibility": "unlisted", "language": "fr", "sensitive": True}
    assert publish(replay, make_job(options=options)).remote_id == "117440831286600298"
    assert replay.seen[0].form() == {
        "status": ["Toot!"],
        "visibility": ["unlisted"],
        "spoiler_text": ["Content warning"],
        "sensitive": ["true"],
        "language": ["fr"],
    }


def test_a_poll_is_sent_as_rails_form_fields(replay):
    replay.add("POST", "/api/v1/statuses", recorded("test_polls.yaml", "POST", "/api/v1/statuses"))
    poll = {"options": ["four twenty", "sixty-nine"], "expires_in": 300, "multiple": True}
    assert publish(replay, make_job("nice", options={"poll": poll})).remote_id == "117440826170289495"
    form = replay.seen[0].form()
    assert form["poll[options][]"] == ["four twenty", "sixty-nine"]
    assert form["poll[expires_in]"] == ["300"] and form["poll[multiple]"] == ["true"]


def test_a_thread_is_posted_as_replies_each_with_its_own_key(replay):
    replay.add("POST", "/api/v1/statuses", recorded("test_status_reply.yaml", "POST", "/api/v1/statuses"))
    replay.add("POST", "/api/v1/statuses", recorded("test_status_reply.yaml", "POST", "/api/v1/statuses", index=1))
    job = make_job("Toot, finally!", options={"thread": ["@mastodonpy_test_2 same!"], "content_warning": "CW"})
    published = publish(replay, job)
    assert published.remote_id == "117440826670289215" and "1 replies (thread)" in published.request
    head, reply = replay.seen
    assert "in_reply_to_id" not in head.form() and head.headers["Idempotency-Key"] == "publication-1-key"
    assert reply.form()["in_reply_to_id"] == ["117440826670289215"]
    assert reply.form()["spoiler_text"] == ["CW"] and reply.headers["Idempotency-Key"] == "publication-1-key-2"


def test_an_unknown_visibility_is_refused_before_any_request(replay):
    error = failure(publish, replay, make_job(options={"visibility": "followers"}))
    assert error.kind == ErrorKind.PERMANENT and error.code == "invalid_visibility" and not replay.seen


# Failures, replayed --------------------------------------------------------------------------------------------


def test_a_revoked_token_is_permanent_and_asks_for_reconnection(replay):
    unauthorised = recorded("test_unauthed_home_tl_throws.yaml", "GET", "/api/v1/timelines/home", status=401)
    replay.add("POST", "/api/v1/statuses", unauthorised)
    error = failure(publish, replay, make_job())
    assert error.kind == ErrorKind.PERMANENT and error.code == "unauthorised" and error.needs_reconnection
    assert "The access token is invalid" in error.message and error.response_status == 401


@pytest.mark.parametrize(
    ("cassette", "index", "words"),
    [
        ("test_lang_for_errors.yaml", 1, "Text Begrenzung von 500 Zeichen"),  # too long, in the account's language
        (DELETE_CASSETTE, 3, "117440833002185062"),  # media already attached
    ],
)
def test_a_422_is_permanent_with_the_instance_words(replay, cassette, index, words):
    answer = recorded(cassette, "POST", "/api/v1/statuses", index=index)
    assert answer.status == 422
    replay.add("POST", "/api/v1/statuses", answer)
    error = failure(publish, replay, make_job())
    assert error.kind == ErrorKind.PERMANENT and error.code == "422" and words in error.message


def test_a_rate_limit_reset_header_is_honoured_without_retry_after(replay):
    reset = (datetime.now(UTC) + timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    headers = {"x-ratelimit-limit": "300", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    replay.add(
        "POST",
        "/api/v1/statuses",
        lambda request: httpx.Response(429, json={"error": "Too many requests"}, headers=headers),
    )
    error = failure(publish, replay, make_job())
    assert error.kind == ErrorKind.RETRYABLE and error.code == "rate_limited" and 110 < error.retry_after <= 120


def test_a_proxy_413_on_a_media_is_permanent(replay, tmp_path):
    page = "<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>"
    replay.add("POST", "/api/v2/media", lambda request: httpx.Response(413, text=page))
    video = tmp_path / "big.mp4"
    video.write_bytes(b"0" * 100)
    error = failure(publish, replay, make_job(media=[MediaItem("video", "video/mp4", 100, path=str(video))]))
    assert error.kind == ErrorKind.PERMANENT and error.code == "media_too_big" and "big.mp4" in error.message
    assert replay.requests("POST", "/api/v1/statuses") == []


def test_a_missing_media_file_is_permanent(replay):
    job = make_job(media=[MediaItem("image", "image/png", 1, path="/nonexistent/picture.png")])
    assert failure(publish, replay, job).code == "media_unreadable"


# Deleting and reading back, replayed ---------------------------------------------------------------------------


def test_delete_succeeds_and_a_post_already_gone_counts_as_deleted(replay):
    access = ChannelAccess(1, "mastodon", {"instance_url": INSTANCE}, {"access_token": "t"})
    replay.add("DELETE", "/api/v1/statuses/117440833005109322", recorded(DELETE_CASSETTE, "DELETE", "/api/v1/statuses"))
    gone = recorded(DELETE_CASSETTE, "DELETE", "/api/v1/statuses", status=404)
    replay.add("DELETE", "/api/v1/statuses/117440834327875693", gone)
    assert call("delete", replay, access, "117440833005109322") is None
    assert call("delete", replay, access, "117440834327875693") is None
    unauthorised = recorded("test_unauthed_home_tl_throws.yaml", "GET", "/api/v1/timelines/home", status=401)
    replay.add("DELETE", "/api/v1/statuses/1", unauthorised)
    error = failure(call, "delete", replay, access, "1")
    assert error.kind == ErrorKind.PERMANENT and error.needs_reconnection


def test_recent_posts_are_read_from_the_account_statuses(replay):
    replay.add(
        "GET",
        f"/api/v1/accounts/{ACCOUNT_ID}/statuses",
        recorded("test_account_statuses_exclude_direct.yaml", "GET", "/api/v1/accounts/1"),
    )
    posts = call("recent_posts", replay, make_job())
    assert posts[0].remote_id == "117440813345128578" and posts[0].text == "<p>Public account status</p>"
    assert posts[0].url.endswith("/@mastodonpy_test/117440813345128578")
    assert posts[0].created_at == datetime(2026, 10, 14, 19, 3, 18, 168000, tzinfo=UTC)
    query = replay.seen[0]
    assert query.headers["Authorization"] == "Bearer secret-token"


def test_recent_posts_find_the_account_when_its_id_is_not_kept(replay):
    replay.add("GET", "/api/v1/accounts/verify_credentials", recorded("test_verify_credentials.yaml", "GET", "/"))
    replay.add(
        "GET", "/api/v1/accounts/*", recorded("test_account_statuses_exclude_direct.yaml", "GET", "/api/v1/accounts/1")
    )
    assert call("recent_posts", replay, make_job(account_id=""))
    assert replay.seen[1].path == f"/api/v1/accounts/{ACCOUNT_ID}/statuses"


# Against the simulator -----------------------------------------------------------------------------------------


def test_rate_limit_from_the_simulator_is_retryable_with_its_retry_after(sim):
    sim.configure(rate_limit=1, rate_window_s=60)
    publish(sim.url, make_job("first", base=sim.url, token="tok-alice"))
    error = failure(publish, sim.url, make_job("second", base=sim.url, token="tok-alice", idempotency_key="k2"))
    assert error.kind == ErrorKind.RETRYABLE and error.code == "rate_limited" and 0 < error.retry_after <= 60
    assert [post["text"] for post in sim.posts()] == ["first"]


def test_a_server_error_is_ambiguous(sim):
    sim.configure(error_rate=1.0)
    error = failure(publish, sim.url, make_job(base=sim.url, token="tok-alice"))
    assert error.kind == ErrorKind.AMBIGUOUS and error.code == "503"


def test_an_unreachable_instance_is_retryable():
    with SimulatorServer() as server:
        url = server.url
    error = failure(publish, url, make_job(base=url))  # nothing listens there any more
    assert error.kind == ErrorKind.RETRYABLE and error.code == "ConnectError"


def test_a_timeout_after_commit_is_ambiguous_and_the_post_is_found_when_read_back(sim):
    sim.configure(timeout_after_commit_rate=1.0, stall_s=3)
    job = make_job("Stored, then silence #beffroi https://example.org/a", base=sim.url, token="tok-alice")
    error = failure(publish, sim.url, job, timeout=0.5)
    assert error.kind == ErrorKind.AMBIGUOUS and error.code == "ReadTimeout"
    sim.configure(timeout_after_commit_rate=0.0)
    access = make_job(base=sim.url, token="tok-alice", account_id="")
    [found] = call("recent_posts", None, access)
    assert found.remote_id == sim.posts()[0]["id"] and fingerprint(found.text) == fingerprint(job.text)
    # The key is remembered: sending again answers the same status, nothing new is stored.
    assert publish(sim.url, job).remote_id == found.remote_id and len(sim.posts()) == 1


def test_a_video_is_polled_on_the_simulator_until_processed(sim, tmp_path):
    sim.configure(media_processing_s=0.8)  # first look after 0.5 s: still processing
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 2048)
    job = make_job(
        "With a clip",
        base=sim.url,
        token="tok-alice",
        media=[MediaItem("video", "video/mp4", 2048, path=str(video), alt_text="A clip")],
        options={"poll": {"options": ["yes", "no"], "expires_in": 3600}},
    )
    publish(sim.url, job)
    [post] = sim.posts()
    assert len(post["media_ids"]) == 1 and post["poll"]["options"] == ["yes", "no"]
    requests = sim.stats()["requests"]
    assert requests["POST /api/v2/media"] == {"202": 1} and "206" in requests["GET /api/v1/media/:id"]


def test_a_media_still_processing_after_the_bound_is_retryable_and_nothing_is_posted(sim, tmp_path):
    sim.configure(media_processing_s=60)
    video = tmp_path / "long.mp4"
    video.write_bytes(b"\x00" * 64)
    job = make_job(base=sim.url, token="tok-alice", media=[MediaItem("video", "video/mp4", 64, path=str(video))])
    error = failure(publish, sim.url, job, MastodonConnector(media_wait_s=0.3))
    assert error.kind == ErrorKind.RETRYABLE and error.code == "media_processing"
    assert sim.posts() == []


def test_an_unsupported_media_is_refused_with_the_instance_words(sim, tmp_path):
    document = tmp_path / "notes.pdf"
    document.write_bytes(b"%PDF-1.7")
    job = make_job(
        base=sim.url, token="tok-alice", media=[MediaItem("image", "application/pdf", 8, path=str(document))]
    )
    error = failure(publish, sim.url, job)
    assert error.kind == ErrorKind.PERMANENT and error.code == "media_refused"
    assert "content type is invalid" in error.message and sim.posts() == []


def test_a_thread_part_refused_leaves_a_clear_permanent_error_naming_the_published_post(sim):
    sim.configure(max_characters=20)
    job = make_job("Short head", base=sim.url, token="tok-alice", options={"thread": ["fine", "x" * 30]})
    error = failure(publish, sim.url, job)
    assert error.kind == ErrorKind.PERMANENT and error.code == "thread_incomplete"
    head, second = sim.posts()
    assert error.extra["remote_id"] == head["id"] and error.extra["published_ids"] == [head["id"], second["id"]]
    assert second["in_reply_to_id"] == head["id"] and "2 of 3" in error.message


def test_a_thread_part_failing_transiently_is_resumed_without_duplicates(sim):
    job = make_job("Head", base=sim.url, token="tok-alice", options={"thread": ["second", "third"]})
    connector = MastodonConnector()
    calls = {"n": 0}
    original = connector._post_status

    async def flaky(http, job_, fields, key):
        calls["n"] += 1
        if calls["n"] == 3:  # the third part: the instance is unreachable
            raise PublishError(ErrorKind.RETRYABLE, "unreachable", code="ConnectError")
        return await original(http, job_, fields, key)

    connector._post_status = flaky  # type: ignore[method-assign]
    error = failure(publish, sim.url, job, connector)
    assert error.kind == ErrorKind.RETRYABLE and error.code == "thread_incomplete"
    publish(sim.url, job, connector)  # the engine tries again: the first two parts answer with themselves
    assert [post["text"] for post in sim.posts()] == ["Head", "second", "third"]
    assert sim.stats()["networks"]["mastodon"]["idempotent_replays"] == 2
