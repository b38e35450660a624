"""The network simulator itself, over real HTTP: what it stores, what it answers, and the faults it injects."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time

import httpx
import pytest

from beffroi.simulator import SimulatorProcess, SimulatorServer
from beffroi.simulator.mastodon import countable_length, grapheme_length, nest_params, render_content
from beffroi.simulator.tests.rawhttp import post_statuses

ALICE = {"Authorization": "Bearer tok-alice"}
BOB = {"Authorization": "Bearer tok-bob"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sim():
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def http(sim):
    with httpx.Client(base_url=sim.url, timeout=5) as client:
        yield client


def post(http: httpx.Client, text: str, headers=ALICE, **data) -> httpx.Response:
    return http.post("/api/v1/statuses", data={"status": text, **data}, headers=headers)


# Posting and reading back ------------------------------------------------------------------------------------


def test_a_post_is_stored_and_answered_with_a_mastodon_status(sim, http):
    response = post(http, "Hello <world> & l'ami\nsecond line", visibility="unlisted", language="fr")
    assert response.status_code == 200
    status = response.json()
    assert status["id"].isdigit() and ISO_MS.match(status["created_at"])
    assert status["content"] == "<p>Hello &lt;world&gt; &amp; l&#39;ami<br />second line</p>"
    assert status["url"] == f"{sim.url}/@alice/{status['id']}"
    assert status["visibility"] == "unlisted" and status["language"] == "fr"
    assert status["media_attachments"] == [] and status["spoiler_text"] == "" and status["sensitive"] is False
    assert status["account"]["username"] == status["account"]["acct"] == "alice"
    assert status["account"]["url"] == f"{sim.url}/@alice"
    assert status["replies_count"] == status["reblogs_count"] == status["favourites_count"] == 0
    [record] = sim.posts()
    assert record["id"] == status["id"] and record["account"] == "alice"
    assert record["text"] == "Hello <world> & l'ami\nsecond line" and record["fault"] is None


def test_posts_read_back_newest_first_with_paging(sim, http):
    ids = [post(http, f"post {n}").json()["id"] for n in range(5)]
    post(http, "someone else's", headers=BOB)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)  # increasing, like snowflakes
    account = http.get("/api/v1/accounts/verify_credentials", headers=ALICE).json()
    assert account["username"] == "alice" and account["statuses_count"] == 5 and "source" in account
    path = f"/api/v1/accounts/{account['id']}/statuses"
    assert [s["id"] for s in http.get(path).json()] == ids[::-1]  # public: no token needed
    page = http.get(path, params={"limit": 2}, headers=ALICE)
    assert [s["id"] for s in page.json()] == [ids[4], ids[3]] and 'rel="next"' in page.headers["Link"]
    assert [s["id"] for s in http.get(path, params={"max_id": ids[3]}).json()] == [ids[2], ids[1], ids[0]]
    assert [s["id"] for s in http.get(path, params={"since_id": ids[2]}).json()] == [ids[4], ids[3]]
    assert [s["id"] for s in http.get(path, params={"min_id": ids[0], "limit": 2}).json()] == [ids[2], ids[1]]
    assert http.get(path, params={"limit": 1000}).status_code == 200
    assert http.get(f"/api/v1/statuses/{ids[0]}").json()["content"] == "<p>post 0</p>"
    assert http.get("/api/v1/accounts/999/statuses").json() == {"error": "Record not found"}


def test_form_and_json_bodies_with_media_polls_and_replies(http):
    first = post(http, "first").json()
    form = http.post(
        "/api/v1/statuses",
        data={
            "status": "a poll",
            "poll[options][]": ["yes", "no"],
            "poll[expires_in]": "3600",
            "in_reply_to_id": first["id"],
            "sensitive": "true",
            "spoiler_text": "CW",
        },
        headers=ALICE,
    ).json()
    assert [option["title"] for option in form["poll"]["options"]] == ["yes", "no"]
    assert form["in_reply_to_id"] == first["id"] and form["sensitive"] is True and form["spoiler_text"] == "CW"
    media = http.post("/api/v1/statuses", json={"status": "", "media_ids": ["7", "8"]}, headers=ALICE)
    assert media.status_code == 200 and [m["id"] for m in media.json()["media_attachments"]] == ["7", "8"]
    too_many = http.post("/api/v1/statuses", data={"status": "x", "media_ids[]": list("12345")}, headers=ALICE)
    assert too_many.status_code == 422
    orphan = post(http, "reply", in_reply_to_id="12345")
    assert orphan.status_code == 404


def test_instance_configuration(http):
    statuses = http.get("/api/v2/instance").json()["configuration"]["statuses"]
    assert statuses == {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23}


# Idempotency -------------------------------------------------------------------------------------------------


def test_the_same_idempotency_key_answers_the_first_status_and_stores_nothing_new(sim, http):
    headers = {**ALICE, "Idempotency-Key": "publication-1"}
    first = post(http, "once", headers=headers).json()
    again = post(http, "once", headers=headers).json()
    assert again["id"] == first["id"]
    assert len(sim.posts()) == 1 and sim.stats()["duplicates"] == 0
    assert sim.stats()["networks"]["mastodon"]["idempotent_replays"] == 1
    # The key is per account, and forgotten after its time (an hour on real instances).
    other = post(http, "once", headers={**BOB, "Idempotency-Key": "publication-1"}).json()
    assert other["id"] != first["id"]
    sim.configure(idempotency_ttl_s=0.05)
    post(http, "twice", headers={**ALICE, "Idempotency-Key": "publication-2"})
    time.sleep(0.1)
    post(http, "twice", headers={**ALICE, "Idempotency-Key": "publication-2"})
    assert sim.stats()["posts"] == 4 and sim.stats()["duplicates"] == 1


# Faults ------------------------------------------------------------------------------------------------------


def test_error_rate_answers_503_and_stores_nothing(sim, http):
    sim.configure(error_rate=1.0)
    response = post(http, "lost in the proxy")
    assert response.status_code == 503 and response.json() == {"error": "Service unavailable"}
    assert sim.posts() == [] and sim.stats()["injected"] == {"error": 1}


def test_error_rate_is_a_fraction_and_reproducible_with_a_seed(sim, http):
    def run() -> list[int]:
        sim.reset()
        return [post(http, f"p{n}").status_code for n in range(40)]

    sim.configure(error_rate=0.5, seed=42)
    first = run()
    assert 5 < first.count(503) < 35 and first.count(200) == sim.stats()["posts"]
    assert run() == first  # reset restarts the random sequence from the seed


def test_timeout_after_commit_stores_the_post_although_the_client_times_out(sim):
    sim.configure(timeout_after_commit_rate=1.0, stall_s=3)
    with httpx.Client(base_url=sim.url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        post(impatient, "live, but nobody was told", headers={**ALICE, "Idempotency-Key": "k"})
    [record] = sim.posts()
    assert record["fault"] == "stall" and record["text"] == "live, but nobody was told"
    # Reading back finds it; resending with the same key answers it at once (after the stall of the first).
    sim.configure(timeout_after_commit_rate=0.0)
    with httpx.Client(base_url=sim.url, timeout=2) as http:
        account_id = record["account_id"]
        assert [s["id"] for s in http.get(f"/api/v1/accounts/{account_id}/statuses").json()] == [record["id"]]
        assert (
            post(http, "live, but nobody was told", headers={**ALICE, "Idempotency-Key": "k"}).json()["id"]
            == (record["id"])
        )
    assert sim.stats()["posts"] == 1


def test_a_request_whose_client_gave_up_during_the_latency_is_still_processed(sim):
    # Fully received: a real server acts on it even though nobody waits for the answer any more.
    sim.configure(latency_ms=300)
    with httpx.Client(base_url=sim.url, timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        post(impatient, "posted after the client left")
    assert sim.posts() == []
    time.sleep(0.4)
    assert [(p["text"], p["fault"]) for p in sim.posts()] == [("posted after the client left", None)]


def test_a_stalled_answer_arrives_after_stall_s(sim, http):
    sim.configure(timeout_after_commit_rate=1.0, stall_s=0.3)
    started = time.monotonic()
    assert post(http, "late").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_after_commit_stores_the_post_and_closes_the_connection_unanswered(sim, http):
    sim.configure(drop_after_commit_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, "dropped")
    assert [p["fault"] for p in sim.posts()] == ["drop"]
    assert sim.stats()["requests"]["POST /api/v1/statuses"] == {"drop": 1}


def test_rate_limit_answers_429_with_retry_after(sim, http):
    sim.configure(rate_limit=2, rate_window_s=60)
    first = post(http, "one")
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", first.headers["X-RateLimit-Reset"])
    assert post(http, "two").headers["X-RateLimit-Remaining"] == "0"
    limited = post(http, "three")
    assert limited.status_code == 429 and limited.json() == {"error": "Too many requests"}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert post(http, "bob is not limited", headers=BOB).status_code == 200  # per token
    assert sim.stats()["posts"] == 3


def test_revoked_and_missing_tokens_are_refused(sim, http):
    assert post(http, "x", headers={"Authorization": "Bearer revoked-alice"}).json() == {
        "error": "The access token was revoked"
    }
    sim.configure(revoked_tokens={"tok-carol"})
    refused = post(http, "x", headers={"Authorization": "Bearer tok-carol"})
    assert refused.status_code == 401 and refused.json()["error"] == "The access token was revoked"
    missing = post(http, "x", headers={})
    assert missing.status_code == 401 and missing.json() == {"error": "The access token is invalid"}
    assert http.get("/api/v1/accounts/verify_credentials").status_code == 401
    assert sim.posts() == []


def test_empty_and_too_long_texts_are_refused(sim, http):
    assert post(http, "   ").json() == {"error": "Validation failed: Text can't be blank"}
    assert post(http, "é" * 500).status_code == 200
    too_long = post(http, "x" * 501)
    assert too_long.status_code == 422
    assert too_long.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    assert post(http, "x" * 470 + " https://example.com/" + "a" * 100).status_code == 200  # a URL counts 23
    sim.configure(max_characters=10)
    assert post(http, "x" * 11).json()["error"] == "Validation failed: Text character limit of 10 exceeded"
    assert http.get("/api/v2/instance").json()["configuration"]["statuses"]["max_characters"] == 10
    assert sim.stats()["posts"] == 2


def test_per_account_overrides(sim, http):
    sim.configure(overrides={"bob": {"error_rate": 1.0, "max_characters": 5}})
    assert post(http, "alice is fine").status_code == 200
    assert post(http, "bob is not", headers=BOB).status_code == 503
    with pytest.raises(ValueError):
        sim.configure(overrides={"bob": {"seed": 1}})


# Records and statistics --------------------------------------------------------------------------------------


def test_duplicates_are_counted_per_account_and_text(sim, http):
    post(http, "same")
    post(http, "same")
    post(http, "same")
    post(http, "same", headers=BOB)
    post(http, "different")
    stats = sim.stats()
    assert stats["posts"] == 5 and stats["duplicates"] == 2 and stats["duplicate_groups"] == 1
    assert stats["requests"]["POST /api/v1/statuses"] == {"200": 5}


def test_delete_answers_the_status_and_flags_the_record(sim, http):
    status = post(http, "regrettable").json()
    assert http.delete(f"/api/v1/statuses/{status['id']}", headers=BOB).status_code == 404  # not Bob's
    deleted = http.delete(f"/api/v1/statuses/{status['id']}", headers=ALICE)
    assert deleted.status_code == 200 and deleted.json()["id"] == status["id"]
    assert deleted.json()["text"] == "regrettable"  # the source, for "delete and redraft"
    assert http.get(f"/api/v1/statuses/{status['id']}").json() == {"error": "Record not found"}
    assert http.delete(f"/api/v1/statuses/{status['id']}", headers=ALICE).status_code == 404
    assert http.get("/api/v1/accounts/verify_credentials", headers=ALICE).json()["statuses_count"] == 0
    [record] = sim.posts()
    assert record["deleted"] is True and ISO_MS.match(record["deleted_at"])
    assert sim.stats()["posts"] == 1 and sim.stats()["posts_deleted"] == 1


def test_control_api_over_http(sim, http):
    post(http, "recorded", headers={**ALICE, "Idempotency-Key": "k1"})
    [record] = http.get("/_sim/posts").json()
    assert record["idempotency_key"] == "k1" and ISO_MS.match(record["received_at"])
    assert http.get("/_sim/stats").json()["posts"] == 1
    assert http.post("/_sim/config", json={"latency_ms": 5, "revoked_tokens": ["tok-x"]}).json()["latency_ms"] == 5
    assert sim.simulator.knobs.revoked_tokens == {"tok-x"}
    assert http.post("/_sim/config", json={"error_rate": 2}).status_code == 400
    assert http.post("/_sim/config", json={"no_such_knob": 1}).status_code == 400
    assert http.post("/_sim/reset").json() == {"ok": True}
    assert http.get("/_sim/posts").json() == [] and http.get("/_sim/stats").json()["posts"] == 0
    assert http.get("/_sim/config").json()["latency_ms"] == 5  # reset keeps the knobs


# HTTP plumbing -----------------------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(sim, http):
    for n in range(20):
        post(http, f"p{n}")
    assert sim.stats()["connections"]["total"] == 1


def test_pipelined_and_chunked_requests_are_answered_in_order(sim):
    body = b"status=chunked"
    raw = (
        b"POST /api/v1/statuses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
        + b"GET /api/v2/instance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as connection:
        connection.sendall(raw)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b'"content":"<p>chunked</p>"') < received.index(b'"max_characters"')
    assert [p["text"] for p in sim.posts()] == ["chunked"]


def test_unknown_paths_and_methods(sim, http):
    assert http.get("/api/v1/nothing").status_code == 404
    assert http.put("/api/v1/statuses").status_code == 405
    assert sim.stats()["requests"] == {"GET (unknown path)": {"404": 1}, "PUT (unknown path)": {"405": 1}}


def test_500_concurrent_posts_with_latency_are_served_concurrently(sim):
    # A raw keep-alive client: httpx's pool costs O(connections) per request, it would measure itself.
    sim.configure(latency_ms=50)
    result = asyncio.run(post_statuses(sim.url, total=500, connections=500, accounts=100))
    assert result.statuses == {200: 500}
    assert min(result.latencies_s) >= 0.05
    assert result.elapsed_s < 2.5  # one at a time would take 25 s
    stats = sim.stats()
    assert stats["posts"] == 500 and stats["duplicates"] == 0 and stats["connections"]["peak"] == 500


def test_httpx_async_client_concurrency(sim):
    sim.configure(latency_ms=50)

    async def burst() -> float:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=sim.url, limits=limits, timeout=10) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.post("/api/v1/statuses", data={"status": f"p{n}"}, headers=ALICE) for n in range(100))
            )
        assert {response.status_code for response in responses} == {200}
        return time.monotonic() - started

    assert asyncio.run(burst()) < 2.0  # one at a time: 5 s
    assert sim.stats()["connections"]["total"] <= 100


def test_stop_does_not_wait_for_stalled_answers():
    server = SimulatorServer(timeout_after_commit_rate=1.0, stall_s=30).start()
    outcome: list[BaseException] = []

    def patient_client() -> None:
        with httpx.Client(base_url=server.url, timeout=20) as http:
            try:
                post(http, "stalled")
            except httpx.HTTPError as error:
                outcome.append(error)

    waiting = threading.Thread(target=patient_client)
    waiting.start()
    deadline = time.monotonic() + 5
    while not server.posts() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    waiting.join(5)
    assert time.monotonic() - started < 2 and not waiting.is_alive()
    assert len(outcome) == 1 and len(server.posts()) == 1  # stored, and the client saw the line go down


def test_simulator_process_over_the_control_api():
    with SimulatorProcess(latency_ms=1, seed=3) as simulator:
        with httpx.Client(base_url=simulator.url, timeout=5) as http:
            assert post(http, "from another process").status_code == 200
            assert simulator.stats()["posts"] == 1
            assert [p["text"] for p in simulator.posts()] == ["from another process"]
            assert simulator.configure(error_rate=1.0)["error_rate"] == 1.0
            assert post(http, "refused").status_code == 503
            with pytest.raises(ValueError):
                simulator.configure(error_rate=5)
            simulator.reset()
            assert simulator.stats()["posts"] == 0
        process = simulator.process
    assert process is not None and process.poll() is not None  # stopped with the context


# Rendering and counting like Mastodon ------------------------------------------------------------------------


def test_content_is_rendered_like_mastodon():
    content, tags = render_content("One\ntwo\n\nthree #Beffroi https://example.org/x.", "http://sim")
    assert content == (
        "<p>One<br />two</p><p>three "
        '<a href="http://sim/tags/Beffroi" class="mention hashtag" rel="tag">#<span>Beffroi</span></a> '
        '<a href="https://example.org/x" target="_blank" rel="nofollow noopener" translate="no">'
        '<span class="invisible">https://</span><span class="">example.org/x</span>'
        '<span class="invisible"></span></a>.</p>'
    )
    assert tags == ["Beffroi"]
    assert render_content("", "http://sim")[0] == "<p></p>"
    assert render_content("#123 is not a tag", "http://sim") == ("<p>#123 is not a tag</p>", [])


def test_length_counts_graphemes_and_urls_as_23():
    assert grapheme_length("👍🏽🇫🇷👨‍👩‍👧e\u0301") == 4
    assert countable_length("see https://example.com/" + "a" * 200, "") == 4 + 23
    assert countable_length("abc", "cw") == 5


def test_rails_style_form_keys():
    pairs = [("media_ids[]", "1"), ("media_ids[]", "2"), ("poll[options][]", "a"), ("poll[expires_in]", "60")]
    assert nest_params(pairs) == {"media_ids": ["1", "2"], "poll": {"options": ["a"], "expires_in": "60"}}
