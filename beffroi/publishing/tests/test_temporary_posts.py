"""Temporary posts: removed from the network at their end time by the worker, once, where the network allows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication
from beffroi.publishing.services import create_and_schedule_post
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


def _admin(tenant) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(Role.ADMIN))


def _local(minutes: float):
    return timezone.localtime(timezone.now() + timedelta(minutes=minutes)).replace(tzinfo=None, microsecond=0)


def test_a_temporary_post_goes_out_then_is_removed_at_its_end(tenant_a, mastodon_channels, simulator):
    channel, _other = mastodon_channels(simulator.url)
    create_and_schedule_post(
        _admin(tenant_a),
        text="Inscriptions ouvertes jusqu'à ce soir",
        channel_ids=[channel.pk],
        local=None,
        remove_local=_local(10),
    )
    publication = Publication.objects.get()
    assert publication.remove_at - publication.due_at > timedelta(minutes=9)
    run_dispatcher_until(
        Dispatcher(concurrency=2, sweep_s=0.2), lambda: Publication.objects.filter(state=State.PUBLISHED).exists()
    )
    Publication.objects.update(remove_at=timezone.now())  # the end time comes
    run_dispatcher_until(
        Dispatcher(concurrency=2, sweep_s=0.2), lambda: Publication.objects.filter(state=State.DELETED).exists()
    )
    publication.refresh_from_db()
    assert publication.state == State.DELETED and publication.remove_at is None
    [status] = simulator.posts()
    assert status["deleted"] is True


def test_a_network_out_of_reach_is_tried_again_later_and_one_worker_removes_each(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels("http://127.0.0.1:9")  # nothing listens there
    create_and_schedule_post(
        _admin(tenant_a), text="Bientôt retirée", channel_ids=[channel.pk], local=None, remove_local=_local(5)
    )
    Publication.objects.update(state=State.PUBLISHED, remote_id="1", remove_at=timezone.now())
    first = claims.claim_removals(10)
    assert len(first) == 1 and claims.claim_removals(10) == []  # leased: a second worker gets nothing
    Publication.objects.update(removal_lease_until=None)  # that worker died: the lease is released
    run_dispatcher_until(
        Dispatcher(concurrency=2, sweep_s=0.2),
        lambda: Publication.objects.filter(remove_at__gt=timezone.now()).exists(),
        timeout=5,
    )
    publication = Publication.objects.get()
    assert publication.state == State.PUBLISHED and publication.remove_at > timezone.now()  # retried later


def test_temporary_posts_only_where_the_network_can_remove_them(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels()
    instagram = Channel.objects.create(
        organisation=tenant_a.organisation, network="instagram", display_name="IG", remote_id="ig"
    )
    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(
            _admin(tenant_a), text="x", channel_ids=[instagram.pk], local=_local(30), remove_local=_local(90)
        )
    assert "IG" in " ".join(refused.value.messages)
    with pytest.raises(ValidationError):
        create_and_schedule_post(
            _admin(tenant_a), text="x", channel_ids=[channel.pk], local=_local(30), remove_local=_local(20)
        )
    assert not Publication.objects.exists()
