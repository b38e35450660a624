"""Creating, scheduling, rescheduling, cancelling and editing posts: bad input leaves nothing half-written."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from beffroi.channels.models import Channel
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.services import (
    cancel_publication,
    create_and_schedule_post,
    edit_post_text,
    reschedule_publication,
)
from beffroi.publishing.states import TRANSITIONS, State, Trigger


def _membership(tenant, role=Role.ADMIN) -> Membership:
    return Membership.objects.get(user=tenant.member(role))


def _future(days=3) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(tzinfo=None, second=0, microsecond=0)


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


@pytest.mark.django_db
def test_schedule_for_several_channels_creates_one_publication_each_in_its_zone(tenant_a, mastodon_channels):
    paris, montreal = mastodon_channels()
    local = _future()
    post = create_and_schedule_post(
        _membership(tenant_a),
        text="Bonjour",
        channel_ids=[paris.pk, montreal.pk],
        local=local,
        duplicate_reason="Deux publics distincts : France et Québec",
    )
    assert post.duplicate_reason == "Deux publics distincts : France et Québec"
    by_channel = {p.channel_id: p for p in post.publications.all()}
    assert {p.state for p in by_channel.values()} == {State.SCHEDULED}
    assert by_channel[paris.pk].scheduled_tz == "Europe/Paris"
    assert by_channel[montreal.pk].scheduled_tz == "America/Montreal"
    assert by_channel[montreal.pk].due_at - by_channel[paris.pk].due_at in (timedelta(hours=5), timedelta(hours=6))
    assert by_channel[paris.pk].run_at == by_channel[paris.pk].due_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("past", "This time is in the past"),
        ("unknown_channel", "Unknown channel"),
        ("other_org_channel", "Unknown channel"),
        ("disabled", "is disabled"),
        ("needs_reconnection", "must be reconnected"),
        ("no_connector", "cannot publish on TikTok yet"),
        ("empty", "Write something to publish"),
        ("dst_gap", "does not exist"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(case, expected, tenant_a, tenant_b, mastodon_channels):
    good, second = mastodon_channels()
    kwargs = {"text": "Bonjour", "channel_ids": [good.pk, second.pk], "local": _future()}
    if case == "past":
        kwargs["local"] = (timezone.now() - timedelta(hours=1)).replace(tzinfo=None)
    elif case == "unknown_channel":
        kwargs["channel_ids"] = [good.pk, 999999]
    elif case == "other_org_channel":
        kwargs["channel_ids"] = [good.pk, tenant_b.channel.pk]
    elif case == "disabled":
        Channel.objects.filter(pk=second.pk).update(status=Channel.Status.DISABLED)
    elif case == "needs_reconnection":
        Channel.objects.filter(pk=second.pk).update(status=Channel.Status.NEEDS_RECONNECTION)
    elif case == "no_connector":
        tiktok = Channel.objects.create(
            organisation=tenant_a.organisation, network="tiktok", display_name="TikTok", remote_id="t1"
        )
        kwargs["channel_ids"] = [good.pk, tiktok.pk]  # a network whose connector is not built yet
    elif case == "empty":
        kwargs["text"] = "   "
    elif case == "dst_gap":
        kwargs["local"], kwargs["zone"] = datetime(2031, 3, 30, 2, 30), "Europe/Paris"
    with translation.override("en"), pytest.raises(ValidationError) as error:
        create_and_schedule_post(_membership(tenant_a), **kwargs)
    assert expected in _errors(error.value)
    assert Post.objects.count() == 0 and Publication.objects.count() == 0


@pytest.mark.django_db
def test_editor_submits_for_approval_and_analyst_cannot_post(tenant_a, mastodon_channels):
    channel = mastodon_channels()[0]
    post = create_and_schedule_post(
        _membership(tenant_a, Role.EDITOR), text="Hi", channel_ids=[channel.pk], local=_future()
    )
    assert post.publications.get().state == State.AWAITING_APPROVAL
    with pytest.raises(PermissionDenied):
        create_and_schedule_post(
            _membership(tenant_a, Role.ANALYST), text="Hi", channel_ids=[channel.pk], local=_future()
        )


@pytest.mark.django_db
def test_reschedule_and_cancel_are_refused_while_publishing(tenant_a, mastodon_channels):
    channel = mastodon_channels()[0]
    admin = _membership(tenant_a)
    post = create_and_schedule_post(admin, text="Hi", channel_ids=[channel.pk], local=_future())
    publication = post.publications.get()
    reschedule_publication(admin, publication, local=_future(5))
    assert publication.state == State.SCHEDULED and publication.version == 2
    Publication.objects.filter(pk=publication.pk).update(state=State.PUBLISHING)  # the worker claimed it
    publication.refresh_from_db()
    with translation.override("en"):
        for action in (
            lambda: reschedule_publication(admin, publication, local=_future(6)),
            lambda: cancel_publication(admin, publication),
            lambda: edit_post_text(admin, post, text="Changed"),
        ):
            with pytest.raises(ValidationError) as error:
                action()
            assert "being published right now" in _errors(error.value)
    publication.refresh_from_db()
    post.refresh_from_db()
    assert publication.state == State.PUBLISHING and post.text == "Hi"


@pytest.mark.django_db
def test_a_stale_page_cannot_overwrite_a_claim(tenant_a, mastodon_channels):
    """The person's copy says "scheduled", but the worker claimed it meanwhile: the conditional update refuses."""
    channel = mastodon_channels()[0]
    admin = _membership(tenant_a)
    publication = create_and_schedule_post(
        admin, text="Hi", channel_ids=[channel.pk], local=_future()
    ).publications.get()
    stale = Publication.objects.get(pk=publication.pk)
    Publication.objects.filter(pk=publication.pk).update(state=State.PUBLISHING)
    with translation.override("en"), pytest.raises(ValidationError, match="being published"):
        cancel_publication(admin, stale)
    assert Publication.objects.get(pk=publication.pk).state == State.PUBLISHING


@pytest.mark.django_db
def test_cancel_then_nothing_is_due(tenant_a, mastodon_channels):
    channel = mastodon_channels()[0]
    admin = _membership(tenant_a)
    publication = create_and_schedule_post(admin, text="Hi", channel_ids=[channel.pk], local=None).publications.get()
    cancel_publication(admin, publication)
    assert publication.state == State.CANCELLED and publication.run_at is None


def test_state_graph_is_consistent():
    assert all(t.triggers for t in TRANSITIONS.values())
    workers = {name for name, t in TRANSITIONS.items() if Trigger.WORKER in t.triggers}
    assert workers == {"claim", "succeed", "retry", "fail", "lose_track"}
    # Nothing leaves "published" but its deletion (by a person, or at a temporary post's end), and nothing
    # leaves "cancelled" or "deleted": a post on the network is never sent again.
    assert [n for n, t in TRANSITIONS.items() if State.PUBLISHED in t.sources] == ["delete", "expire"]
    assert TRANSITIONS["delete"].triggers == {Trigger.PERSON} and TRANSITIONS["delete"].target == State.DELETED
    assert TRANSITIONS["expire"].triggers == {Trigger.SWEEPER} and TRANSITIONS["expire"].target == State.DELETED
    assert not any({State.CANCELLED, State.DELETED} & t.sources for t in TRANSITIONS.values())
    # "unknown" never goes straight back to the queue without a reconciliation or a person's check.
    assert {n for n, t in TRANSITIONS.items() if State.UNKNOWN in t.sources} == {
        "reconcile_found",
        "reconcile_absent",
        "reconcile_give_up",
        "confirm_published",
        "confirm_absent",
    }
