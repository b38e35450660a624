"""Publishing to a Facebook Page against recorded (and documented-shape) Graph answers, then the simulator."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, PublishError, PublishJob
from beffroi.networks.facebook.connector import FacebookConnector
from beffroi.networks.graph.tests.replay import Expect, Replay, load, meta_error
from beffroi.networks.tests.media_files import image, mp4
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, page_id_for

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "2121008874780932"
V = "/v24.0"
HOST = "https://graph.test"
TOKEN = "EAAPageToken0123456789"


def job(text="Bonjour", media=(), options=None, due_at=None, config=None, token=TOKEN) -> PublishJob:
    return PublishJob(
        channel_id=1,
        network="facebook",
        config=config or {"page_id": PAGE, "api_host": HOST},
        credentials={"access_token": token},
        publication_id=1,
        fence=1,
        attempt=1,
        text=text,
        idempotency_key="key-1",
        due_at=due_at,
        claimed_at=datetime.now(UTC),
        media=list(media),
        options=options or {},
    )


def picture(tmp_path: Path, name="photo.jpg", url="", alt="") -> MediaItem:
    path = image(tmp_path / name, (800, 600))
    return MediaItem("image", "image/jpeg", path.stat().st_size, path=str(path), url=url, alt_text=alt)


def publish(replay: Replay, the_job: PublishJob):
    return replay.run(lambda http: FacebookConnector().publish(http, the_job))


def failure(replay: Replay, the_job: PublishJob) -> PublishError:
    with pytest.raises(PublishError) as caught:
        publish(replay, the_job)
    replay.assert_done()
    return caught.value


@pytest.fixture(autouse=True)
def graph_version(settings):
    settings.BEFFROI_GRAPH_API_VERSION = "v24.0"


# Publishing --------------------------------------------------------------------------------------------------


def test_text_post_goes_to_the_feed_with_the_token_in_a_header_only():
    replay = Replay(Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_1234"}, host="graph.test"))
    published = publish(replay, job("Bonjour à tous"))
    replay.assert_done()
    assert replay.params(0) == {"message": "Bonjour à tous"}
    assert replay.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert published.remote_id == f"{PAGE}_1234" and published.url == f"https://www.facebook.com/{PAGE}_1234"
    assert published.request == f"POST {HOST}/v24.0/{PAGE}/feed (message: 14 characters)"
    assert TOKEN not in published.request and TOKEN not in published.response
    assert json.loads(published.response) == {"post": {"id": f"{PAGE}_1234"}}


def test_link_post():
    replay = Replay(Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_1"}))
    publish(replay, job("À lire", options={"link": "https://exemple.fr/article"}))
    assert replay.params(0) == {"message": "À lire", "link": "https://exemple.fr/article"}


def test_one_photo_by_public_url_with_alt_text(tmp_path):
    photo = picture(tmp_path, url="https://media.exemple.fr/p.jpg", alt="Une affiche rouge")
    replay = Replay(Expect("POST", f"{V}/{PAGE}/photos", {"id": "10158249017468553", "post_id": f"{PAGE}_99"}))
    published = publish(replay, job("Affiche", media=[photo]))
    assert replay.params(0) == {
        "url": "https://media.exemple.fr/p.jpg",
        "caption": "Affiche",
        "alt_text_custom": "Une affiche rouge",
    }
    assert published.remote_id == f"{PAGE}_99"


def test_one_photo_uploaded_as_a_file_when_media_are_not_public(tmp_path):
    photo = picture(tmp_path)
    replay = Replay(Expect("POST", f"{V}/{PAGE}/photos", {"id": "1", "post_id": f"{PAGE}_2"}))
    publish(replay, job("Affiche", media=[photo]))
    params = replay.params(0)
    assert params["caption"] == "Affiche"
    assert params["source"] == {"filename": "photo.jpg", "size": photo.size, "type": "image/jpeg"}


def test_several_photos_are_uploaded_unpublished_then_attached(tmp_path):
    photos = [picture(tmp_path, f"p{n}.jpg", url=f"https://media.exemple.fr/p{n}.jpg") for n in range(3)]
    replay = Replay(
        *(Expect("POST", f"{V}/{PAGE}/photos", {"id": f"50{n}"}) for n in range(3)),
        Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_7"}),
    )
    published = publish(replay, job("Album", media=photos))
    replay.assert_done()
    assert [replay.params(n) for n in range(3)] == [
        {"url": f"https://media.exemple.fr/p{n}.jpg", "published": "false"} for n in range(3)
    ]
    feed = replay.params(3)
    assert feed["message"] == "Album"
    assert json.loads(feed["attached_media"]) == [{"media_fbid": "500"}, {"media_fbid": "501"}, {"media_fbid": "502"}]
    assert published.remote_id == f"{PAGE}_7"


def test_video_upload_and_video_by_url(tmp_path):
    path = mp4(tmp_path / "clip.mp4", duration_s=8)
    video = MediaItem("video", "video/mp4", path.stat().st_size, path=str(path))
    replay = Replay(Expect("POST", f"{V}/{PAGE}/videos", {"id": "1192957457884299"}))
    published = publish(replay, job("Notre vidéo", media=[video]))
    params = replay.params(0)
    assert params["description"] == "Notre vidéo" and params["source"]["filename"] == "clip.mp4"
    assert published.remote_id == "1192957457884299"
    assert published.url == f"https://www.facebook.com/{PAGE}/videos/1192957457884299"

    public = MediaItem("video", "video/mp4", 10, url="https://media.exemple.fr/clip.mp4")
    replay = Replay(Expect("POST", f"{V}/{PAGE}/videos", {"id": "2"}, host="graph-video.facebook.com"))
    publish(replay, job("Vidéo", media=[public], config={"page_id": PAGE}))  # Meta's video host by default
    assert replay.params(0) == {"file_url": "https://media.exemple.fr/clip.mp4", "description": "Vidéo"}


def test_native_scheduling_within_meta_s_window(tmp_path):
    due = datetime.now(UTC) + timedelta(days=2)
    replay = Replay(Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_3"}))
    published = publish(replay, job("Plus tard", options={"native_schedule": True}, due_at=due))
    assert replay.params(0) == {
        "message": "Plus tard",
        "published": "false",
        "scheduled_publish_time": str(int(due.timestamp())),
    }
    assert json.loads(published.response)["scheduled_publish_time"] == str(int(due.timestamp()))
    # Photos of a scheduled album are uploaded as temporary.
    photos = [picture(tmp_path, f"s{n}.jpg", url=f"https://m.fr/{n}.jpg") for n in range(2)]
    replay = Replay(
        Expect("POST", f"{V}/{PAGE}/photos", {"id": "1"}),
        Expect("POST", f"{V}/{PAGE}/photos", {"id": "2"}),
        Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_4"}),
    )
    publish(replay, job("Album", media=photos, options={"native_schedule": True}, due_at=due))
    assert replay.params(0) == {"url": "https://m.fr/0.jpg", "published": "false", "temporary": "true"}
    assert replay.params(2)["scheduled_publish_time"] == str(int(due.timestamp()))


@pytest.mark.parametrize("ahead", [timedelta(minutes=5), timedelta(days=31), timedelta(minutes=-1)])
def test_native_scheduling_outside_the_window_is_refused_before_any_call(ahead):
    replay = Replay()
    error = failure(replay, job(options={"native_schedule": True}, due_at=datetime.now(UTC) + ahead))
    assert error.kind == ErrorKind.PERMANENT and error.code == "schedule_out_of_range"
    assert "10 minutes to 30 days" in error.message and replay.requests == []


def test_first_comment_is_posted_and_its_failure_does_not_fail_the_post():
    comment = load(FIXTURES, "create_resp.json")
    replay = Replay(
        Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_5"}),
        Expect("POST", f"{V}/{PAGE}_5/comments", comment),
    )
    published = publish(replay, job("Post", options={"first_comment": "Le lien : https://exemple.fr"}))
    assert replay.params(1) == {"message": "Le lien : https://exemple.fr"}
    assert json.loads(published.response)["first_comment"] == {"ok": True, "id": comment["id"]}

    replay = Replay(
        Expect("POST", f"{V}/{PAGE}/feed", {"id": f"{PAGE}_6"}),
        Expect("POST", f"{V}/{PAGE}_6/comments", meta_error(368, "It looks like you were misusing this feature"), 400),
    )
    published = publish(replay, job("Post", options={"first_comment": "Commentaire"}))
    assert published.remote_id == f"{PAGE}_6"
    report = json.loads(published.response)["first_comment"]
    assert report["ok"] is False and report["code"] == "blocked_by_policy"


# Failures ----------------------------------------------------------------------------------------------------


def test_expired_token_needs_reconnection():
    body = meta_error(190, "Error validating access token: Session has expired on Friday, 20-Nov-26.", 463)
    error = failure(Replay(Expect("POST", f"{V}/{PAGE}/feed", body, 400)), job())
    assert error.kind == ErrorKind.PERMANENT and error.needs_reconnection and error.code == "token_expired"
    assert error.message == "The Facebook authorisation has expired: reconnect the channel."
    assert error.extra["fbtrace_id"] == "AbCdEfGhIjKlMnOpQrStUvW"


def test_rate_limit_waits_for_the_time_meta_gives():
    usage = {PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 15}]}
    replay = Replay(
        Expect(
            "POST",
            f"{V}/{PAGE}/feed",
            meta_error(32, "(#32) Page request limit reached"),
            400,
            {"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
    )
    error = failure(replay, job())
    assert error.kind == ErrorKind.RETRYABLE and error.retry_after == 900.0 and error.code == "rate_limited"


def test_invalid_media_is_permanent_with_meta_s_words(tmp_path):
    body = load(FIXTURES, "error.json")  # a recorded (#100) error
    replay = Replay(Expect("POST", f"{V}/{PAGE}/photos", body, 400))
    error = failure(replay, job(media=[picture(tmp_path, url="https://m.fr/x.jpg")]))
    assert error.kind == ErrorKind.PERMANENT and error.code == "invalid_parameter"
    assert error.message.startswith("Facebook refused the post: (#100)")


def test_server_error_on_a_publishing_call_is_ambiguous_but_not_on_an_unpublished_upload(tmp_path):
    transient = meta_error(2, "An unexpected error has occurred. Please retry your request later.", is_transient=True)
    error = failure(Replay(Expect("POST", f"{V}/{PAGE}/feed", transient, 500)), job())
    assert error.kind == ErrorKind.AMBIGUOUS and error.code == "server_error"
    photos = [picture(tmp_path, f"a{n}.jpg", url=f"https://m.fr/{n}.jpg") for n in range(2)]
    error = failure(Replay(Expect("POST", f"{V}/{PAGE}/photos", transient, 500)), job(media=photos))
    assert error.kind == ErrorKind.RETRYABLE  # an unpublished photo is invisible: nothing was published


def test_timeouts_after_sending_are_ambiguous_connection_failures_retryable():
    error = failure(Replay(Expect("POST", f"{V}/{PAGE}/feed", raises=httpx.ReadTimeout)), job())
    assert error.kind == ErrorKind.AMBIGUOUS and error.code == "ReadTimeout"
    error = failure(Replay(Expect("POST", f"{V}/{PAGE}/feed", raises=httpx.ConnectError)), job())
    assert error.kind == ErrorKind.RETRYABLE


# Reading back, deleting --------------------------------------------------------------------------------------


def test_recent_posts_parse_the_recorded_feed():
    replay = Replay(Expect("GET", f"{V}/{PAGE}/feed", load(FIXTURES, "feeds_default_fields_p1.json")))
    posts = replay.run(lambda http: FacebookConnector().recent_posts(http, job()))
    replay.assert_done()
    assert replay.params(0) == {"fields": "id,message,created_time,permalink_url", "limit": "25"}
    assert len(posts) == 5 and posts[0].created_at >= posts[-1].created_at
    first = load(FIXTURES, "feeds_default_fields_p1.json")["data"][0]
    assert posts[0].remote_id == first["id"] and posts[0].text == first["message"]
    assert posts[0].url == first["permalink_url"] and posts[0].created_at.tzinfo is not None


def test_recent_posts_of_a_natively_scheduled_post_include_scheduled_ones():
    replay = Replay(
        Expect("GET", f"{V}/{PAGE}/feed", load(FIXTURES, "feed_fields_p1.json")),
        Expect(
            "GET",
            f"{V}/{PAGE}/scheduled_posts",
            {"data": [{"id": f"{PAGE}_8", "message": "Plus tard", "created_time": "2030-01-01T10:00:00+0000"}]},
        ),
    )
    the_job = job("Plus tard", options={"native_schedule": True})
    posts = replay.run(lambda http: FacebookConnector().recent_posts(http, the_job))
    assert posts[0].remote_id == f"{PAGE}_8" and posts[1].url == "https://www.facebook.com/4_10113477241177441"


def test_recent_posts_failures_are_retryable_reads():
    replay = Replay(Expect("GET", f"{V}/{PAGE}/feed", meta_error(2, "Service temporarily unavailable"), 503))
    with pytest.raises(PublishError) as caught:
        replay.run(lambda http: FacebookConnector().recent_posts(http, job()))
    assert caught.value.kind == ErrorKind.RETRYABLE


def test_delete():
    access = ChannelAccess(1, "facebook", {"page_id": PAGE, "api_host": HOST}, {"access_token": TOKEN})
    replay = Replay(Expect("DELETE", f"{V}/{PAGE}_5", {"success": True}))
    replay.run(lambda http: FacebookConnector().delete(http, access, f"{PAGE}_5"))
    replay.assert_done()
    gone = meta_error(100, "Unsupported delete request.", 33)
    Replay(Expect("DELETE", f"{V}/{PAGE}_5", gone, 400)).run(
        lambda http: FacebookConnector().delete(http, access, f"{PAGE}_5")
    )  # already gone: done
    replay = Replay(Expect("DELETE", f"{V}/{PAGE}_5", meta_error(200, "(#200) Permissions error"), 403))
    with pytest.raises(PublishError) as caught:
        replay.run(lambda http: FacebookConnector().delete(http, access, f"{PAGE}_5"))
    assert caught.value.kind == ErrorKind.PERMANENT and caught.value.needs_reconnection


# Against the simulator ---------------------------------------------------------------------------------------


@pytest.fixture
def simulator():
    with SimulatorServer(networks=[GraphNetwork]) as server:
        yield server


def sim_job(server, text, **kwargs) -> PublishJob:
    config = {"page_id": page_id_for("alice"), "api_host": server.url}
    return job(text, config=config, token="tok-alice", **kwargs)


async def _publish(the_job):
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as http:
        return await FacebookConnector().publish(http, the_job)


async def _recent(the_job):
    async with httpx.AsyncClient(timeout=5) as http:
        return await FacebookConnector().recent_posts(http, the_job)


def test_simulator_every_kind_of_post(simulator, tmp_path):
    photos = [picture(tmp_path, f"s{n}.jpg") for n in range(2)]
    public = picture(tmp_path, "pub.jpg", url="https://media.exemple.fr/pub.jpg", alt="Texte")
    path = mp4(tmp_path / "clip.mp4")
    video = MediaItem("video", "video/mp4", path.stat().st_size, path=str(path))
    due = datetime.now(UTC) + timedelta(hours=1)
    results = [
        asyncio.run(_publish(sim_job(simulator, "Texte"))),
        asyncio.run(_publish(sim_job(simulator, "Lien", options={"link": "https://exemple.fr"}))),
        asyncio.run(_publish(sim_job(simulator, "Une photo", media=[public]))),
        asyncio.run(_publish(sim_job(simulator, "Album", media=photos, options={"first_comment": "Premier"}))),
        asyncio.run(_publish(sim_job(simulator, "Vidéo", media=[video]))),
        asyncio.run(_publish(sim_job(simulator, "Programmé", options={"native_schedule": True}, due_at=due))),
    ]
    records = simulator.posts()
    assert [r["kind"] for r in records] == ["text", "link", "photo", "album", "video", "text"]
    assert records[3]["media"] == [f"upload:{photos[0].size} bytes", f"upload:{photos[1].size} bytes"]
    assert records[5]["scheduled_publish_time"] == int(due.timestamp())
    assert json.loads(results[3].response)["first_comment"]["ok"] is True
    assert simulator.stats()["duplicates"] == 0
    posts = asyncio.run(_recent(sim_job(simulator, "x")))
    assert [p.text for p in posts] == ["Vidéo", "Album", "Une photo", "Lien", "Texte"]  # scheduled: not yet
    the_job = sim_job(simulator, "x", options={"native_schedule": True})
    assert asyncio.run(_recent(the_job))[0].text == "Programmé"

    async def delete():
        async with httpx.AsyncClient() as http:
            await FacebookConnector().delete(http, the_job, results[4].remote_id)  # the video

    asyncio.run(delete())
    assert simulator.posts()[4]["deleted"] is True


def test_simulator_timeout_after_commit_is_ambiguous_then_found_by_reading_back(simulator):
    simulator.configure(timeout_after_commit_rate=1.0, stall_s=5)
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(sim_job(simulator, "Perdu en route")))
    assert caught.value.kind == ErrorKind.AMBIGUOUS
    simulator.configure(timeout_after_commit_rate=0.0)
    [record] = simulator.posts()
    assert record["fault"] == "stall"
    posts = asyncio.run(_recent(sim_job(simulator, "x")))
    assert [(p.remote_id, p.text) for p in posts] == [(record["id"], "Perdu en route")]


def test_simulator_failures_are_classified(simulator):
    error = None
    with pytest.raises(PublishError) as caught:
        asyncio.run(
            _publish(job("x", config={"page_id": page_id_for("bob"), "api_host": simulator.url}, token="expired-bob"))
        )
    error = caught.value
    assert error.needs_reconnection and error.code == "token_expired"
    simulator.configure(error_rate=1.0)
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(sim_job(simulator, "x")))
    assert caught.value.kind == ErrorKind.AMBIGUOUS and simulator.posts() == []
    simulator.configure(error_rate=0.0, rate_limit=0)
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(sim_job(simulator, "x")))
    assert caught.value.kind == ErrorKind.RETRYABLE and caught.value.retry_after >= 60
    simulator.configure(rate_limit=None)
    with pytest.raises(PublishError) as caught:  # another person's Page
        asyncio.run(
            _publish(job("x", config={"page_id": page_id_for("bob"), "api_host": simulator.url}, token="tok-alice"))
        )
    assert caught.value.kind == ErrorKind.PERMANENT and caught.value.code == "invalid_parameter"
