"""Approval: editors submit, validators approve or reject with a comment; nothing is published unapproved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import PostComment, Publication
from beffroi.publishing.services import approve_post, create_and_schedule_post, edit_post_text, reject_post
from beffroi.publishing.states import State
from beffroi.publishing.worker import claims

pytestmark = pytest.mark.django_db


def _as(tenant, role) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _in(hours: float):
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0)


@pytest.fixture
def submitted(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels()
    post = create_and_schedule_post(
        _as(tenant_a, Role.EDITOR), text="Sortie au musée", channel_ids=[channel.pk], local=_in(3)
    )
    return post


def test_an_editors_post_waits_and_is_never_claimed_until_approved(tenant_a, submitted):
    publication = submitted.publications.get()
    assert publication.state == State.AWAITING_APPROVAL
    Publication.objects.filter(pk=publication.pk).update(due_at=timezone.now(), run_at=timezone.now())
    assert claims.claim_due("w", 10, 60) == []  # due, but unapproved: the worker never takes it


def test_a_validator_approves_and_the_post_is_scheduled_for_its_time(tenant_a, submitted):
    [publication] = approve_post(_as(tenant_a, Role.VALIDATOR), submitted, comment="Parfait")
    publication.refresh_from_db()
    assert publication.state == State.SCHEDULED and publication.run_at == publication.due_at
    assert [(c.kind, c.body) for c in submitted.comments.all()] == [(PostComment.Kind.APPROVED, "Parfait")]
    assert [e.action for e in submitted.events.all()] == ["submitted", "approved"]
    with pytest.raises(ValidationError):
        approve_post(_as(tenant_a, Role.VALIDATOR), submitted)  # nothing left to approve


def test_rejecting_needs_a_comment_and_tells_the_author(tenant_a, submitted, django_capture_on_commit_callbacks):
    validator = _as(tenant_a, Role.VALIDATOR)
    with pytest.raises(ValidationError):
        reject_post(validator, submitted, comment="  ")
    with django_capture_on_commit_callbacks(execute=True):
        reject_post(validator, submitted, comment="Ajoutez l'heure du départ, s'il vous plaît.")
    assert submitted.publications.get().state == State.DRAFT
    [message] = mail.outbox
    assert message.to == [tenant_a.member(Role.EDITOR).email]
    assert "Ajoutez l'heure du départ" in message.body and "Sortie au musée" in message.body


def test_a_time_passed_while_waiting_is_flagged_never_published_late(tenant_a, submitted):
    Publication.objects.filter(post=submitted).update(due_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(ValidationError) as refused:
        approve_post(_as(tenant_a, Role.VALIDATOR), submitted)
    assert "Mastodon 0" in " ".join(refused.value.messages)
    assert submitted.publications.get().state == State.AWAITING_APPROVAL


def test_an_approved_post_edited_by_an_editor_needs_approval_again(tenant_a, submitted):
    approve_post(_as(tenant_a, Role.VALIDATOR), submitted)
    edit_post_text(_as(tenant_a, Role.VALIDATOR), submitted, text="Sortie au musée (corrigée)")
    assert submitted.publications.get().state == State.SCHEDULED  # a validator's edit stays approved
    edit_post_text(_as(tenant_a, Role.EDITOR), submitted, text="Sortie au musée, départ 9 h")
    publication = submitted.publications.get()
    assert publication.state == State.AWAITING_APPROVAL and publication.run_at is None
    assert [e.action for e in submitted.events.all()][-2:] == ["edited", "edited"]


def test_only_validators_of_the_channels_decide(tenant_a, submitted):
    with pytest.raises(PermissionDenied):
        approve_post(_as(tenant_a, Role.EDITOR), submitted)
    scoped = _as(tenant_a, Role.VALIDATOR)
    scoped.groups.set([tenant_a.other_local])  # the post's channel is in `local`
    with pytest.raises(ValidationError):
        approve_post(scoped, submitted)


def test_the_api_approves_and_rejects(tenant_a, submitted, client_for):
    base = f"/api/v1/organisations/{tenant_a.organisation.slug}/posts/{submitted.pk}"
    editor = client_for(tenant_a.member(Role.EDITOR))
    assert editor.post(f"{base}/approve", {}, content_type="application/json").status_code == 403
    validator = client_for(tenant_a.member(Role.VALIDATOR))
    refused = validator.post(f"{base}/reject", {"comment": ""}, content_type="application/json")
    assert refused.status_code == 422
    approved = validator.post(f"{base}/approve", {"comment": "OK"}, content_type="application/json")
    assert approved.status_code == 200 and approved.json()[0]["state"] == "scheduled"


def test_validators_approve_and_send_back_from_the_list(
    tenant_a, submitted, client_for, django_capture_on_commit_callbacks
):
    slug = tenant_a.organisation.slug
    validator = client_for(tenant_a.member(Role.VALIDATOR))
    page = validator.get(f"/o/{slug}/publications/?tab=awaiting").content.decode()
    assert f"/o/{slug}/posts/{submitted.pk}/approve/" in page and f"/o/{slug}/posts/{submitted.pk}/reject/" in page
    editor_page = client_for(tenant_a.member(Role.EDITOR)).get(f"/o/{slug}/publications/?tab=awaiting").content.decode()
    assert "/approve/" not in editor_page
    with django_capture_on_commit_callbacks(execute=True):
        response = validator.post(f"/o/{slug}/posts/{submitted.pk}/reject/", {"comment": "Trop long"})
    assert response.status_code == 302 and submitted.publications.get().state == State.DRAFT
    assert len(mail.outbox) == 1
