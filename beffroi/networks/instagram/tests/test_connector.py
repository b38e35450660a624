"""Publishing to Instagram through the container flow, against recorded (and documented-shape) Graph answers,
then the simulator."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, PublishError, PublishJob
from beffroi.networks.graph.tests.replay import Expect, Replay, load, meta_error
from beffroi.networks.instagram.connector import InstagramConnector
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, ig_user_id_for

FIXTURES = Path(__file__).parent / "fixtures"
IG = "17841406338772941"
V = "/v24.0"
TOKEN = "IGAAToken0123456789"
LIMIT = Expect("GET", f"{V}/{IG}/content_publishing_limit", load(FIXTURES, "content_publish_limit.json"))
FINISHED = load(FIXTURES, "container_info.json")
IN_PROGRESS = {"status_code": "IN_PROGRESS", "status": "In Progress: Media is still being processed.", "id": "1"}


def job(text="Légende #fête", media=(), options=None, config=None, token=TOKEN) -> PublishJob:
    return PublishJob(
        channel_id=1,
        network="instagram",
        config=config or {"ig_user_id": IG, "api_host": "https://graph.instagram.com"},
        credentials={"access_token": token},
        publication_id=1,
        fence=1,
        attempt=1,
        text=text,
        idempotency_key="k",
        due_at=None,
        claimed_at=datetime.now(UTC),
        media=list(media),
        options=options or {},
    )


def img(n=0, alt="") -> MediaItem:
    return MediaItem("image", "image/jpeg", 1000, url=f"https://media.exemple.fr/{n}.jpg", alt_text=alt)


def vid(n=0) -> MediaItem:
    return MediaItem("video", "video/mp4", 5000, url=f"https://media.exemple.fr/{n}.mp4", duration_s=12)


def connector(sleeps: list | None = None) -> InstagramConnector:
    async def sleep(seconds):
        if sleeps is not None:
            sleeps.append(seconds)

    return InstagramConnector(image_poll_delays=(1, 2), video_poll_delays=(5, 10, 15), sleep=sleep)


def publish(replay: Replay, the_job: PublishJob, sleeps=None):
    return replay.run(lambda http: connector(sleeps).publish(http, the_job))


def failure(replay: Replay, the_job: PublishJob) -> PublishError:
    with pytest.raises(PublishError) as caught:
        publish(replay, the_job)
    replay.assert_done()
    return caught.value


@pytest.fixture(autouse=True)
def graph_version(settings):
    settings.BEFFROI_GRAPH_API_VERSION = "v24.0"


def published_steps(container: str) -> list[Expect]:
    return [
        Expect("POST", f"{V}/{IG}/media_publish", load(FIXTURES, "publish_container.json")),
        Expect(
            "GET",
            f"{V}/17920238422030506",
            {"permalink": "https://www.instagram.com/p/CSgf9BChwVq/", "id": "17920238422030506"},
        ),
    ]


# Publishing --------------------------------------------------------------------------------------------------


def test_one_picture_through_the_container_flow():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", load(FIXTURES, "create_photo.json"), host="graph.instagram.com"),
        Expect("GET", f"{V}/17889455560051444", FINISHED),
        *published_steps("17889455560051444"),
    )
    published = publish(replay, job(media=[img(alt="Une affiche")]))
    replay.assert_done()
    assert replay.params(0) == {"fields": "quota_usage,config"}
    assert replay.params(1) == {
        "image_url": "https://media.exemple.fr/0.jpg",
        "alt_text": "Une affiche",
        "caption": "Légende #fête",
    }
    assert replay.params(2) == {"fields": "status_code,status"}
    assert replay.params(3) == {"creation_id": "17889455560051444"}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in replay.requests)
    assert published.remote_id == "17920238422030506"
    assert published.url == "https://www.instagram.com/p/CSgf9BChwVq/"
    assert TOKEN not in published.request and "media_publish (creation_id=17889455560051444)" in published.request
    assert json.loads(published.response)["kind"] == "feed"


def test_a_carousel_creates_children_then_the_carousel():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "c1"}),
        Expect("GET", f"{V}/c1", FINISHED),
        Expect("POST", f"{V}/{IG}/media", {"id": "c2"}),
        Expect("GET", f"{V}/c2", IN_PROGRESS),
        Expect("GET", f"{V}/c2", IN_PROGRESS),
        Expect("GET", f"{V}/c2", FINISHED),
        Expect("POST", f"{V}/{IG}/media", {"id": "parent"}),
        Expect("GET", f"{V}/parent", FINISHED),
        *published_steps("parent"),
    )
    sleeps: list[float] = []
    publish(replay, job("Carrousel", media=[img(1, alt="Un"), vid(2)]), sleeps)
    replay.assert_done()
    assert replay.params(1) == {
        "is_carousel_item": "true",
        "image_url": "https://media.exemple.fr/1.jpg",
        "alt_text": "Un",
    }
    assert replay.params(3) == {
        "is_carousel_item": "true",
        "media_type": "VIDEO",
        "video_url": "https://media.exemple.fr/2.mp4",
    }
    assert replay.params(7) == {"media_type": "CAROUSEL", "children": "c1,c2", "caption": "Carrousel"}
    assert replay.params(9) == {"creation_id": "parent"}
    assert sleeps == [5, 10]  # the video's back-off


def test_a_single_video_is_a_reel_polled_until_finished():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", load(FIXTURES, "create_video.json")),
        Expect("GET", f"{V}/17889455560051447", IN_PROGRESS),
        Expect("GET", f"{V}/17889455560051447", FINISHED),
        *published_steps("17889455560051447"),
    )
    published = publish(replay, job("Reel", media=[vid()]))
    assert replay.params(1) == {"media_type": "REELS", "video_url": "https://media.exemple.fr/0.mp4", "caption": "Reel"}
    assert json.loads(published.response)["kind"] == "reel"


def test_a_story_takes_no_caption():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "s1"}),
        Expect("GET", f"{V}/s1", FINISHED),
        *published_steps("s1"),
    )
    publish(replay, job("Ignored", media=[img()], options={"instagram_kind": "story", "first_comment": "x"}))
    replay.assert_done()  # and no comment on a story
    assert replay.params(1) == {"image_url": "https://media.exemple.fr/0.jpg", "media_type": "STORIES"}


def test_first_comment_and_its_failure():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "c"}),
        Expect("GET", f"{V}/c", FINISHED),
        *published_steps("c"),
        Expect("POST", f"{V}/17920238422030506/comments", meta_error(10, "(#10) Comments are disabled"), 400),
    )
    published = publish(replay, job(media=[img()], options={"first_comment": "#tags #en #commentaire"}))
    assert replay.params(5) == {"message": "#tags #en #commentaire"}
    assert published.remote_id == "17920238422030506"
    assert json.loads(published.response)["first_comment"]["ok"] is False


def test_the_publishing_limit_is_read_first_and_respected():
    full = {"data": [{"quota_usage": 25, "config": {"quota_total": 25, "quota_duration": 86400}}]}
    error = failure(Replay(Expect("GET", f"{V}/{IG}/content_publishing_limit", full)), job(media=[img()]))
    assert error.kind == ErrorKind.RETRYABLE and error.code == "publishing_limit" and error.retry_after == 3600
    assert "25 posts per 24 hours" in error.message
    # The recorded answer (quota not reached) lets the post through.
    assert load(FIXTURES, "publish_limit_resp.json")["data"][0]["quota_usage"] == 0


@pytest.mark.parametrize("url", ["", "http://media.exemple.fr/0.jpg", "/media/0.jpg"])
def test_media_without_a_public_https_address_are_refused_before_any_call(url):
    replay = Replay()
    media = [img(1), MediaItem("image", "image/jpeg", 10, path="/tmp/x.jpg", url=url)]
    error = failure(replay, job(media=media))
    assert error.kind == ErrorKind.PERMANENT and error.code == "media_not_public"
    assert "BEFFROI_PUBLIC_MEDIA_URL" in error.message and replay.requests == []


@pytest.mark.parametrize(
    ("media", "options", "code"),
    [
        ([], {}, "media_required"),
        ([img(), img(1)], {"instagram_kind": "story"}, "story_one_media"),
        ([img()], {"instagram_kind": "reel"}, "reel_one_video"),
        ([img(n) for n in range(11)], {}, "too_many_media"),
        ([img()], {"instagram_kind": "igtv"}, "unknown_kind"),
    ],
)
def test_what_instagram_cannot_take_is_refused_before_any_call(media, options, code):
    error = failure(Replay(), job(media=media, options=options))
    assert error.kind == ErrorKind.PERMANENT and error.code == code


# Failures ----------------------------------------------------------------------------------------------------


def test_expired_token():
    body = meta_error(190, "Error validating access token: Session has expired on Friday.", 463)
    error = failure(Replay(Expect("GET", f"{V}/{IG}/content_publishing_limit", body, 400)), job(media=[img()]))
    assert error.needs_reconnection and error.code == "token_expired"
    assert error.message == "The Instagram authorisation has expired: reconnect the channel."


def test_rate_limit_with_a_usage_header():
    usage = {IG: [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 3}]}
    replay = Replay(
        LIMIT,
        Expect(
            "POST",
            f"{V}/{IG}/media",
            meta_error(4, "Application request limit reached", is_transient=True),
            429,
            {"X-Business-Use-Case-Usage": json.dumps(usage)},
        ),
    )
    error = failure(replay, job(media=[img()]))
    assert error.kind == ErrorKind.RETRYABLE and error.retry_after == 180.0


def test_invalid_media_at_creation_and_in_processing():
    unsupported = meta_error(
        2207026,
        "The video format is not supported.",
        2207026,
        type="IGApiException",
        error_user_msg="The video format is not supported. Please check spec.",
    )
    replay = Replay(LIMIT, Expect("POST", f"{V}/{IG}/media", unsupported, 400))
    error = failure(replay, job(media=[vid()]))
    assert error.kind == ErrorKind.PERMANENT and error.code == "unsupported_video"

    status = {"status_code": "ERROR", "status": "Error: Media upload has failed with error code 2207026", "id": "v"}
    replay = Replay(LIMIT, Expect("POST", f"{V}/{IG}/media", {"id": "v"}), Expect("GET", f"{V}/v", status))
    error = failure(replay, job(media=[vid()]))
    assert error.kind == ErrorKind.PERMANENT and error.code == "unsupported_video"

    status = {"status_code": "ERROR", "status": "Error: something else", "id": "v"}
    replay = Replay(LIMIT, Expect("POST", f"{V}/{IG}/media", {"id": "v"}), Expect("GET", f"{V}/v", status))
    error = failure(replay, job(media=[img()]))
    assert error.code == "media_error" and "something else" in error.message


def test_still_processing_after_the_bound_is_retryable():
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "v"}),
        *(Expect("GET", f"{V}/v", IN_PROGRESS) for _ in range(4)),
    )
    error = failure(replay, job(media=[vid()]))
    assert error.kind == ErrorKind.RETRYABLE and error.code == "media_processing_slow"
    assert "×4" in error.request  # the polls counted, not copied


def test_server_errors_are_ambiguous_only_when_publishing():
    transient = meta_error(2, "An unexpected error has occurred. Please retry your request later.", is_transient=True)
    error = failure(Replay(LIMIT, Expect("POST", f"{V}/{IG}/media", transient, 500)), job(media=[img()]))
    assert error.kind == ErrorKind.RETRYABLE  # a container is invisible
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "c"}),
        Expect("GET", f"{V}/c", FINISHED),
        Expect("POST", f"{V}/{IG}/media_publish", transient, 500),
    )
    error = failure(replay, job(media=[img()]))
    assert error.kind == ErrorKind.AMBIGUOUS
    replay = Replay(
        LIMIT,
        Expect("POST", f"{V}/{IG}/media", {"id": "c"}),
        Expect("GET", f"{V}/c", FINISHED),
        Expect("POST", f"{V}/{IG}/media_publish", raises=httpx.ReadTimeout),
    )
    assert failure(replay, job(media=[img()])).kind == ErrorKind.AMBIGUOUS


# Reading back, deleting --------------------------------------------------------------------------------------


def test_recent_posts_parse_the_recorded_media():
    replay = Replay(Expect("GET", f"{V}/{IG}/media", load(FIXTURES, "user_medias_p1.json")))
    posts = replay.run(lambda http: connector().recent_posts(http, job()))
    replay.assert_done()
    assert replay.params(0) == {"fields": "id,caption,timestamp,permalink", "limit": "25"}
    assert [(p.remote_id, p.text, p.url) for p in posts][0] == (
        "17846368219941692",
        "Cute.. #cute #loveyou  @ikroskun",
        "https://www.instagram.com/p/B8gQCApHMT-/",
    )
    assert posts[0].created_at == datetime(2020, 2, 13, 10, 35, 40, tzinfo=UTC)


def test_delete_is_refused_clearly_without_any_call():
    replay = Replay()
    access = ChannelAccess(1, "instagram", {"ig_user_id": IG}, {"access_token": TOKEN})
    with pytest.raises(PublishError) as caught:
        replay.run(lambda http: connector().delete(http, access, "1"))
    assert caught.value.kind == ErrorKind.PERMANENT and caught.value.code == "delete_not_supported"
    assert "Instagram app" in caught.value.message and replay.requests == []


def test_both_hosts_work():
    for host in ("https://graph.facebook.com", "https://graph.instagram.com"):
        replay = Replay(Expect("GET", f"{V}/{IG}/media", {"data": []}, host=host.split("//")[1]))
        config = {"ig_user_id": IG, "api_host": host}
        assert replay.run(lambda http, c=config: connector().recent_posts(http, job(config=c))) == []
        replay.assert_done()


# Against the simulator ---------------------------------------------------------------------------------------


@pytest.fixture
def simulator():
    with SimulatorServer(networks=[GraphNetwork]) as server:
        yield server


def sim_job(server, text, media, **kwargs) -> PublishJob:
    return job(
        text, media, config={"ig_user_id": ig_user_id_for("alice"), "api_host": server.url}, token="tok-alice", **kwargs
    )


async def _publish(the_job, timeout=5.0):
    fast = InstagramConnector(image_poll_delays=(0.05,) * 20, video_poll_delays=(0.05,) * 20)
    async with httpx.AsyncClient(timeout=timeout) as http:
        return await fast.publish(http, the_job)


async def _recent(the_job):
    async with httpx.AsyncClient(timeout=5) as http:
        return await InstagramConnector().recent_posts(http, the_job)


def test_simulator_image_carousel_reel_story(simulator):
    network = simulator.simulator.networks[0]
    network.video_processing_s = 0.2  # videos stay IN_PROGRESS a moment
    asyncio.run(_publish(sim_job(simulator, "Image", [img()])))
    asyncio.run(_publish(sim_job(simulator, "Carrousel", [img(1), vid(2)], options={"first_comment": "Hop"})))
    asyncio.run(_publish(sim_job(simulator, "Reel", [vid(3)])))
    asyncio.run(_publish(sim_job(simulator, "", [img(4)], options={"instagram_kind": "story"})))
    records = simulator.posts()
    assert [r["kind"] for r in records] == ["image", "carousel", "reel", "story"]
    assert records[1]["media"] == ["https://media.exemple.fr/1.jpg", "https://media.exemple.fr/2.mp4"]
    assert simulator.stats()["networks"]["graph"]["comments"] == 1
    assert simulator.stats()["requests"]["GET /:version/:node"]["200"] > 5  # polls and permalinks
    posts = asyncio.run(_recent(sim_job(simulator, "", [])))
    assert [p.text for p in posts] == ["Reel", "Carrousel", "Image"]  # stories are not in /media


def test_simulator_limit_expired_token_and_broken_media(simulator):
    network = simulator.simulator.networks[0]
    network.publishing_quota = 1
    asyncio.run(_publish(sim_job(simulator, "Un", [img()])))
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(sim_job(simulator, "Deux", [img()])))
    assert caught.value.code == "publishing_limit" and caught.value.kind == ErrorKind.RETRYABLE
    network.publishing_quota = 100
    with pytest.raises(PublishError) as caught:
        asyncio.run(
            _publish(
                sim_job(simulator, "Vidéo", [MediaItem("video", "video/mp4", 1, url="https://m.fr/unsupported.avi")])
            )
        )
    assert caught.value.code == "unsupported_video"
    expired = job(
        "x", [img()], config={"ig_user_id": ig_user_id_for("bob"), "api_host": simulator.url}, token="expired-bob"
    )
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(expired))
    assert caught.value.needs_reconnection
    assert len(simulator.posts()) == 1


def test_simulator_timeout_after_commit_is_ambiguous_then_found_by_reading_back(simulator):
    simulator.configure(timeout_after_commit_rate=1.0, stall_s=5)
    with pytest.raises(PublishError) as caught:
        asyncio.run(_publish(sim_job(simulator, "Publié sans réponse", [img()]), timeout=1.0))
    assert caught.value.kind == ErrorKind.AMBIGUOUS  # only media_publish stalls: containers are not public
    simulator.configure(timeout_after_commit_rate=0.0)
    [record] = simulator.posts()
    posts = asyncio.run(_recent(sim_job(simulator, "", [])))
    assert [(p.remote_id, p.text) for p in posts] == [(record["id"], "Publié sans réponse")]
