"""The worker against the network simulator: on time, exactly once, nothing lost, every failure classified."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from beffroi.channels.health import reconnect_channel
from beffroi.channels.models import Channel
from beffroi.networks.base import ConnectedAccount
from beffroi.networks.mastodon.connector import MastodonConnector
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Attempt, Post, Publication, fingerprint
from beffroi.publishing.states import State
from beffroi.publishing.testing import run_dispatcher_until
from beffroi.publishing.worker import claims
from beffroi.publishing.worker.dispatcher import Dispatcher
from beffroi.simulator import SimulatorServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator():
    server = SimulatorServer()
    server.start()
    yield server
    server.stop()


def _schedule(tenant, channels, count: int, *, due=None, text="Post") -> list[Publication]:
    """Publications due now (or at `due`), spread over the channels."""
    due = due or timezone.now()
    author = tenant.member(Role.ADMIN)
    publications = []
    for n in range(count):
        channel = channels[n % len(channels)]
        post = Post.objects.create(organisation=tenant.organisation, author=author, text=f"{text} {n}")
        publications.append(
            Publication.objects.create(
                post=post,
                channel=channel,
                state=State.SCHEDULED,
                due_at=due,
                run_at=due,
                content_fingerprint=fingerprint(post.text),
            )
        )
    return publications


_run_until = run_dispatcher_until


def _states() -> dict[str, int]:
    from collections import Counter

    return dict(Counter(Publication.objects.values_list("state", flat=True)))


def _all_in(*states):
    return lambda: not Publication.objects.exclude(state__in=states).exists()


def test_due_publications_go_out_exactly_once(tenant_a, mastodon_channels, simulator):
    channels = mastodon_channels(simulator.url, count=10)
    _schedule(tenant_a, channels, 60)
    _run_until(Dispatcher(concurrency=20, sweep_s=0.5), _all_in(State.PUBLISHED))
    assert _states() == {State.PUBLISHED: 60}
    stats = simulator.stats()
    assert stats["posts"] == 60 and stats["duplicates"] == 0
    for publication in Publication.objects.all():
        assert publication.remote_id and "/@account" in publication.remote_url
        assert publication.late_by is not None and publication.late_by < timedelta(seconds=30)
        attempt = publication.attempt_log.get()
        assert attempt.outcome == Attempt.Outcome.SUCCEEDED and "Idempotency-Key" in attempt.request
        assert "tok-" not in attempt.request  # the token never reaches the attempt log


def test_work_claimed_ahead_goes_back_to_the_queue_untouched_when_the_worker_stops(
    tenant_a, mastodon_channels, simulator
):
    channels = mastodon_channels(simulator.url, count=8)
    _schedule(tenant_a, channels, 8)
    simulator.configure(latency_ms=1500)
    dispatcher = Dispatcher(concurrency=2, sweep_s=60)
    # Two calls under way, two more claimed ahead: stop while the calls are still waiting for the network.
    _run_until(dispatcher, lambda: len(dispatcher.ready) == 2 and dispatcher.calling == 2, timeout=10)
    assert _states() == {State.PUBLISHED: 2, State.SCHEDULED: 6}
    assert simulator.stats()["posts"] == 2
    for publication in Publication.objects.filter(state=State.SCHEDULED):
        # Never sent: no attempt is counted or logged, and the next worker takes it at once.
        assert publication.attempts == 0 and not publication.attempt_log.exists()
        assert publication.run_at <= timezone.now() and not publication.lease_owner
    _run_until(Dispatcher(concurrency=8, sweep_s=60), _all_in(State.PUBLISHED))
    assert simulator.stats()["posts"] == 8 and simulator.stats()["duplicates"] == 0


@pytest.mark.parametrize("idempotency", [True, False], ids=["with-idempotency-key", "without-idempotency-key"])
def test_timeout_after_commit_is_reconciled_and_never_sent_twice(
    idempotency, tenant_a, mastodon_channels, simulator, monkeypatch
):
    if not idempotency:
        # A network without idempotency keys: the same connector, key neither sent nor relied upon.
        connector = MastodonConnector(use_idempotency_key=False)
        monkeypatch.setattr("beffroi.publishing.worker.dispatcher.connector_for", lambda network: connector)
    channels = mastodon_channels(simulator.url, count=3)
    _schedule(tenant_a, channels, 6)
    simulator.configure(timeout_after_commit_rate=1.0, stall_s=5)
    dispatcher = Dispatcher(concurrency=10, http_timeout_s=1.0, sweep_s=0.3)
    _run_until(dispatcher, _all_in(State.PUBLISHED), timeout=40)
    assert _states() == {State.PUBLISHED: 6}
    stats = simulator.stats()
    assert stats["posts"] == 6 and stats["duplicates"] == 0
    for publication in Publication.objects.all():
        outcomes = list(publication.attempt_log.values_list("outcome", flat=True))
        assert outcomes[0] == Attempt.Outcome.AMBIGUOUS  # it went through "unknown", then was found
        assert publication.remote_id in {p["id"] for p in simulator.posts()}


def test_side_effect_free_errors_are_retried_with_backoff(tenant_a, mastodon_channels, simulator, monkeypatch):
    monkeypatch.setattr(claims, "backoff_seconds", lambda attempt: 0.2)
    channels = mastodon_channels(simulator.url, count=4)
    _schedule(tenant_a, channels, 8)
    simulator.configure(error_rate=0.5, seed=7)
    _run_until(Dispatcher(concurrency=8, sweep_s=0.3), _all_in(State.PUBLISHED), timeout=40)
    assert _states() == {State.PUBLISHED: 8}
    assert simulator.stats()["duplicates"] == 0 and simulator.stats()["posts"] == 8
    assert Attempt.objects.exclude(outcome=Attempt.Outcome.SUCCEEDED).exists()  # some did fail first


def test_revoked_token_holds_the_posts_marks_the_channel_and_alerts_its_managers(
    tenant_a, mastodon_channels, simulator, client_for
):
    good, revoked = mastodon_channels(simulator.url, count=2)
    revoked.credentials = {"access_token": "revoked-account1"}
    revoked.save()
    _schedule(tenant_a, [good, revoked], 4)
    _run_until(Dispatcher(concurrency=4), lambda: Publication.objects.filter(state=State.PUBLISHED).count() == 2)
    assert set(Publication.objects.filter(channel=good).values_list("state", flat=True)) == {State.PUBLISHED}
    # Held, not failed: nothing was sent, and the second post was never tried.
    held = list(Publication.objects.filter(channel=revoked))
    assert {p.state for p in held} == {State.SCHEDULED}
    assert any("reconnect the channel" in p.last_error and p.last_error_code == "unauthorised" for p in held)
    revoked.refresh_from_db()
    assert revoked.status == Channel.Status.NEEDS_RECONNECTION and "authorisation" in revoked.status_reason
    # One e-mail per channel manager (the admin), in their language, saying what is held and where to go.
    assert [m.to for m in mail.outbox] == [[tenant_a.member(Role.ADMIN).email]]
    assert "Mastodon 1" in mail.outbox[0].subject and "2" in mail.outbox[0].body
    assert f"/o/{tenant_a.organisation.slug}/settings/channels/" in mail.outbox[0].body
    # Shown wherever it matters: a banner on every page of the organisation.
    page = client_for(tenant_a.member(Role.EDITOR)).get(f"/o/{tenant_a.organisation.slug}/publications/")
    assert "Mastodon 1" in page.content.decode() and 'role="alert"' in page.content.decode()

    # Reconnecting (a fresh token) releases the held posts; nothing was lost or sent twice.
    reconnect_channel(
        revoked,
        ConnectedAccount(
            remote_id="m1", display_name="Mastodon 1", config={}, credentials={"access_token": "tok-account1"}
        ),
    )
    _run_until(Dispatcher(concurrency=4), _all_in(State.PUBLISHED))
    assert simulator.stats()["posts"] == 4 and simulator.stats()["duplicates"] == 0
    assert len(mail.outbox) == 1


def test_rate_limited_channel_pauses_and_goes_out_later(tenant_a, mastodon_channels, simulator, monkeypatch):
    monkeypatch.setattr(claims, "backoff_seconds", lambda attempt: 0.1)
    channel = mastodon_channels(simulator.url, count=1)[0]
    _schedule(tenant_a, [channel], 3)
    simulator.configure(rate_limit=1, rate_window_s=1)
    _run_until(Dispatcher(concurrency=4, sweep_s=0.3), _all_in(State.PUBLISHED), timeout=40)
    assert _states() == {State.PUBLISHED: 3}
    assert Attempt.objects.filter(response_status=429, outcome=Attempt.Outcome.RETRY).exists()
    assert simulator.stats()["duplicates"] == 0


def test_expired_lease_becomes_unknown_and_a_late_result_is_fenced_out(tenant_a, mastodon_channels, simulator):
    channel = mastodon_channels(simulator.url, count=1)[0]
    _schedule(tenant_a, [channel], 1)
    [job] = claims.claim_due("crashed-worker", 10, lease_s=0.01)
    assert claims.release_expired_leases(timezone.now() + timedelta(seconds=1)) == 1
    publication = Publication.objects.get()
    assert publication.state == State.UNKNOWN  # may be live: never straight back to "scheduled"
    # The crashed worker comes back with a success: its fence is stale, nothing is overwritten.
    from beffroi.networks.base import Published

    counts = claims.record_outcomes([claims.Outcome(job=job, published=Published(remote_id="zombie"))])
    assert counts["fenced"] == 1
    assert Publication.objects.get().state == State.UNKNOWN
    # The sweep reconciles with the evidence of that answer: published, no second post.
    _run_until(Dispatcher(concurrency=2, sweep_s=0.2), _all_in(State.PUBLISHED))
    assert Publication.objects.get().remote_id == "zombie"
    assert simulator.stats()["posts"] == 0


def test_publications_later_than_the_maximum_lateness_are_missed_and_the_author_told(
    tenant_a, mastodon_channels, simulator
):
    channel = mastodon_channels(simulator.url, count=1)[0]
    late, _on_time_enough = (
        _schedule(tenant_a, [channel], 1, due=timezone.now() - timedelta(hours=3), text="Old")[0],
        _schedule(tenant_a, [channel], 1, due=timezone.now() - timedelta(minutes=30), text="Late")[0],
    )
    _run_until(Dispatcher(concurrency=2, sweep_s=0.2), _all_in(State.PUBLISHED, State.MISSED))
    assert Publication.objects.get(pk=late.pk).state == State.MISSED
    sent = Publication.objects.get(post__text__startswith="Late")
    assert sent.state == State.PUBLISHED and sent.late_by >= timedelta(minutes=29)  # within 2 h: late, recorded
    assert [p["text"] for p in simulator.posts()] == ["Late 0"]
    assert len(mail.outbox) == 1 and "Old 0" in mail.outbox[0].body


def test_editing_while_publishing_is_refused(tenant_a, mastodon_channels, simulator):
    from django.core.exceptions import ValidationError

    from beffroi.publishing.services import edit_post_text

    channel = mastodon_channels(simulator.url, count=1)[0]
    publication = _schedule(tenant_a, [channel], 1)[0]
    claims.claim_due("w", 10, lease_s=60)
    admin = Membership.objects.get(user=tenant_a.member(Role.ADMIN))
    with pytest.raises(ValidationError):
        edit_post_text(admin, publication.post, text="changed")
    assert Post.objects.get(pk=publication.post_id).text == "Post 0"


def test_the_channel_rate_limit_delays_posts_without_counting_attempts(tenant_a, mastodon_channels, simulator):
    from beffroi.core.ratelimit import Rate

    channel = mastodon_channels(simulator.url, count=1)[0]
    _schedule(tenant_a, [channel], 3)
    started = timezone.now()
    _run_until(Dispatcher(concurrency=4, channel_rate=Rate(1, 0.5)), _all_in(State.PUBLISHED), timeout=30)
    assert _states() == {State.PUBLISHED: 3}
    published = sorted(Publication.objects.values_list("published_at", flat=True))
    assert published[-1] - started >= timedelta(seconds=0.9)  # one every half second
    assert set(Publication.objects.values_list("attempts", flat=True)) == {1}
    assert Attempt.objects.count() == 3 and simulator.stats()["duplicates"] == 0


def test_posts_with_links_and_hashtags_are_recognised_when_reconciling(
    tenant_a, mastodon_channels, simulator, monkeypatch
):
    # Without an idempotency key to fall back on, only the read-back can tell the post is live.
    connector = MastodonConnector(use_idempotency_key=False)
    monkeypatch.setattr("beffroi.publishing.worker.dispatcher.connector_for", lambda network: connector)
    channel = mastodon_channels(simulator.url, count=1)[0]
    [publication] = _schedule(tenant_a, [channel], 1, text="Portes ouvertes #centresocial https://example.org/page")
    simulator.configure(timeout_after_commit_rate=1.0, stall_s=5)
    _run_until(
        Dispatcher(concurrency=2, http_timeout_s=1.0, sweep_s=0.3, channel_rate=None),
        _all_in(State.PUBLISHED),
        timeout=30,
    )
    publication = Publication.objects.get()
    assert publication.state == State.PUBLISHED and publication.reconcile_checks == 0  # found at first look
    assert simulator.stats()["posts"] == 1 and simulator.stats()["duplicates"] == 0


def test_fingerprint_ignores_markup_but_not_words():
    assert fingerprint('<p>Hello <a href="x"><span class="invisible">https://</span>example.org</a><br />you</p>') == (
        fingerprint("Hello https://example.org\nyou")
    )
    assert fingerprint("<p>Hello &amp; welcome</p>") == fingerprint("hello & welcome")
    assert fingerprint("Hello you") != fingerprint("Hello them")


def test_the_network_budget_is_shared_by_every_channel_of_an_instance(
    tenant_a, mastodon_channels, simulator, monkeypatch
):
    from beffroi.core.ratelimit import Rate

    class SlowInstance(MastodonConnector):
        def network_budget(self, job):
            return f"instance:{job.config['instance_url']}", Rate(1, 0.5)

    connector = SlowInstance()
    monkeypatch.setattr("beffroi.publishing.worker.dispatcher.connector_for", lambda network: connector)
    channels = mastodon_channels(simulator.url, count=3)
    _schedule(tenant_a, channels, 3)
    started = timezone.now()
    _run_until(Dispatcher(concurrency=6, channel_rate=None), _all_in(State.PUBLISHED), timeout=30)
    published = sorted(Publication.objects.values_list("published_at", flat=True))
    assert published[-1] - started >= timedelta(seconds=0.9)  # three channels, one instance budget
    assert set(Publication.objects.values_list("attempts", flat=True)) == {1}
