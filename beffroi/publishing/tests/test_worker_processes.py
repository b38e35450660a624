"""Several worker processes sharing PostgreSQL, and killed with SIGKILL at random: exactly once, nothing lost.

These start real `beffroi worker` processes against the test database and a simulator process, so they need a
database other processes can reach: PostgreSQL (the SQLite test database lives in memory).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations.models import Organisation
from beffroi.publishing.models import Post, Publication, fingerprint
from beffroi.publishing.states import State
from beffroi.simulator import SimulatorProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").split(":")[0] not in ("postgres", "postgresql", "pgsql"),
        reason="worker processes need a shared database server (run on PostgreSQL by `make test`)",
    ),
]

SETTLED = (State.PUBLISHED, State.FAILED, State.MISSED)


def _worker_env() -> dict[str, str]:
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    return {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}


def _start_worker(*extra: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 — our own command line
        [sys.executable, "-m", "beffroi.cli", "worker", "--poll", "0.1", "--no-insights", *extra],
        env=_worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _channels(organisation: Organisation, url: str, count: int) -> list[Channel]:
    channels = []
    for n in range(count):
        channel = Channel(
            organisation=organisation,
            network=Network.MASTODON,
            display_name=f"c{n}",
            remote_id=f"c{n}",
            config={"instance_url": url},
        )
        channel.credentials = {"access_token": f"tok-c{n}"}
        channels.append(channel)
    return Channel.objects.bulk_create(channels)


def _burst(organisation: Organisation, channels: list[Channel], count: int, tag: str) -> None:
    now = timezone.now()
    posts = Post.objects.bulk_create([Post(organisation=organisation, text=f"{tag} post {n}") for n in range(count)])
    Publication.objects.bulk_create(
        [
            Publication(
                post=post,
                channel=channels[n % len(channels)],
                state=State.SCHEDULED,
                due_at=now,
                run_at=now,
                content_fingerprint=fingerprint(post.text),
            )
            for n, post in enumerate(posts)
        ]
    )


def _wait_settled(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Publication.objects.exclude(state__in=SETTLED).exists():
            return True
        time.sleep(0.2)
    return False


def _state_counts() -> dict[str, int]:
    from collections import Counter

    return dict(Counter(Publication.objects.values_list("state", flat=True)))


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_four_worker_processes_publish_2000_posts_exactly_once(tenant_a):
    with SimulatorProcess(latency_ms=20) as simulator:
        channels = _channels(tenant_a.organisation, simulator.url, 200)
        _burst(tenant_a.organisation, channels, 2000, "four")
        workers = [_start_worker("--concurrency", "100") for _ in range(4)]
        try:
            assert _wait_settled(180), _state_counts()
        finally:
            _stop(workers)
        stats = simulator.stats()
    assert Publication.objects.filter(state=State.PUBLISHED).count() == 2000
    assert stats["posts"] == 2000 and stats["duplicates"] == 0
    # The work was shared: more than one worker published.
    assert Publication.objects.values("attempt_log__worker").distinct().count() > 1


def test_killing_workers_at_random_loses_nothing_and_duplicates_nothing(tenant_a):
    rng = random.Random(20261122)  # noqa: S311
    rounds, per_round = 20, 30
    with SimulatorProcess(latency_ms=80, jitter_ms=40, timeout_after_commit_rate=0.05, stall_s=3) as simulator:
        channels = _channels(tenant_a.organisation, simulator.url, 30)
        workers = [_start_worker("--concurrency", "20", "--lease", "2") for _ in range(2)]
        kills = 0
        try:
            for round_number in range(rounds):
                _burst(tenant_a.organisation, channels, per_round, f"round{round_number}")
                time.sleep(rng.uniform(0.05, 0.6))
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                kills += 1
                workers[victim] = _start_worker("--concurrency", "20", "--lease", "2")
            assert _wait_settled(240), _state_counts()
        finally:
            _stop(workers)
        stats = simulator.stats()
        posts = simulator.posts()
    total = rounds * per_round
    assert kills == rounds
    published = Publication.objects.filter(state=State.PUBLISHED)
    assert published.count() == total, _state_counts()
    assert stats["duplicates"] == 0 and stats["posts"] == total
    # Every publication points at the post the network holds for it.
    remote_ids = {p["id"] for p in posts}
    assert set(published.values_list("remote_id", flat=True)) <= remote_ids
