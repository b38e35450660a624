"""In-app notifications (the bell, the list) and the e-mail "your approval is needed": the right people are told
when a post is submitted, a step approved, the post approved or sent back, or commented on — never oneself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Notification
from beffroi.publishing.services import approve_post, comment_on_post, create_and_schedule_post, reject_post

pytestmark = pytest.mark.django_db
V = Notification.Verb


def _as(tenant, role) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _in(hours: float):
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0)


@pytest.fixture
def channel(mastodon_channels):
    return mastodon_channels()[0]


def _submit(tenant, channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return create_and_schedule_post(
            _as(tenant, Role.EDITOR), text="Sortie au musée", channel_ids=[channel.pk], local=_in(3)
        )


def _received(verb=None) -> set[tuple[str, str]]:
    notifications = Notification.objects.all() if verb is None else Notification.objects.filter(verb=verb)
    return {(n.recipient.email, n.verb) for n in notifications}


def test_submitting_tells_the_first_steps_approvers_in_the_app_and_by_e_mail(
    tenant_a, chain, channel, django_capture_on_commit_callbacks
):
    post = _submit(tenant_a, channel, django_capture_on_commit_callbacks)
    assert _received() == {("affaires@a.example", V.APPROVAL_NEEDED)}  # not step 2's, not the admins
    [notification] = Notification.objects.all()
    assert notification.detail == "Service des affaires publiques" and notification.post == post
    assert notification.url == f"/o/{tenant_a.organisation.slug}/posts/{post.pk}/"
    assert notification.actor == tenant_a.member(Role.EDITOR)
    [message] = mail.outbox
    assert message.to == ["affaires@a.example"]
    assert "Sortie au musée" in message.body and notification.url in message.body


def test_approving_a_step_tells_the_next_steps_approvers_then_the_author(
    tenant_a, chain, channel, django_capture_on_commit_callbacks
):
    post = _submit(tenant_a, channel, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve_post(chain.a, post)
    assert ("direction@a.example", V.APPROVAL_NEEDED) in _received()
    assert [m.to for m in mail.outbox] == [["direction@a.example"]]
    assert not Notification.objects.filter(verb=V.APPROVED).exists()  # not fully approved yet
    approve_post(chain.b, post, comment="Parfait")
    [approved] = Notification.objects.filter(verb=V.APPROVED)
    assert (approved.recipient, approved.actor, approved.text) == (post.author, chain.b.user, "Parfait")


def test_without_a_chain_the_validators_who_see_the_page_are_told(tenant_a, chain, django_capture_on_commit_callbacks):
    _submit(tenant_a, tenant_a.other_channel, django_capture_on_commit_callbacks)
    assert _received() == {(tenant_a.member(Role.VALIDATOR).email, V.APPROVAL_NEEDED)}


def test_sending_back_tells_the_author(tenant_a, chain, channel, django_capture_on_commit_callbacks):
    post = _submit(tenant_a, channel, django_capture_on_commit_callbacks)
    reject_post(chain.a, post, comment="Ajoutez l'heure.")
    [rejected] = Notification.objects.filter(verb=V.REJECTED)
    assert (rejected.recipient, rejected.text) == (tenant_a.member(Role.EDITOR), "Ajoutez l'heure.")


def test_a_comment_tells_the_author_and_earlier_commenters_never_oneself(tenant_a, chain, channel):
    post = create_and_schedule_post(
        _as(tenant_a, Role.EDITOR), text="Sortie au musée", channel_ids=[channel.pk], local=_in(3)
    )
    Notification.objects.all().delete()
    editor, validator, admin = (_as(tenant_a, role) for role in (Role.EDITOR, Role.VALIDATOR, Role.ADMIN))
    comment_on_post(validator, post, body="Quelle heure ?")
    assert _received(V.COMMENTED) == {(editor.user.email, V.COMMENTED)}
    comment_on_post(editor, post, body="9 h")
    assert _received(V.COMMENTED) == {(editor.user.email, V.COMMENTED), (validator.user.email, V.COMMENTED)}
    Notification.objects.all().delete()
    comment_on_post(admin, post, body="Merci")
    assert _received(V.COMMENTED) == {(editor.user.email, V.COMMENTED), (validator.user.email, V.COMMENTED)}
    # Someone who left the organisation hears nothing more of it.
    Notification.objects.all().delete()
    Membership.objects.filter(pk=validator.pk).delete()
    comment_on_post(admin, post, body="Encore merci")
    assert _received(V.COMMENTED) == {(editor.user.email, V.COMMENTED)}


def test_the_bell_the_list_and_mark_all_read(tenant_a, chain, channel, client_for, django_capture_on_commit_callbacks):
    post = _submit(tenant_a, channel, django_capture_on_commit_callbacks)
    comment_on_post(_as(tenant_a, Role.VALIDATOR), post, body="Belle sortie")
    client = client_for(tenant_a.member(Role.EDITOR))
    client.cookies["beffroi_language"] = "en"
    page = client.get(f"/o/{tenant_a.organisation.slug}/").content.decode()
    assert 'class="badge unread-count">1<' in page
    listing = client.get("/notifications/").content.decode()
    assert "validator a commented on a post." in listing and "Belle sortie" in listing
    [notification] = Notification.objects.filter(recipient=tenant_a.member(Role.EDITOR))
    opened = client.get(f"/notifications/{notification.pk}/")
    assert opened.status_code == 302 and opened.url == f"/o/{tenant_a.organisation.slug}/posts/{post.pk}/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "unread-count" not in client.get(f"/o/{tenant_a.organisation.slug}/").content.decode()
    # Mark all read.
    approver = client_for(chain.a.user)
    assert "unread-count" in approver.get("/notifications/").content.decode()
    assert approver.post("/notifications/read/").status_code == 302
    assert not Notification.objects.filter(recipient=chain.a.user, read_at__isnull=True).exists()


def test_nobody_opens_someone_elses_notification(tenant_a, tenant_b, chain, channel, client_for):
    post = create_and_schedule_post(_as(tenant_a, Role.EDITOR), text="Sortie", channel_ids=[channel.pk], local=_in(3))
    [notification] = Notification.objects.filter(post=post)
    for user in (tenant_a.member(Role.EDITOR), tenant_b.member(Role.ADMIN)):
        assert client_for(user).get(f"/notifications/{notification.pk}/").status_code == 404
        assert str(post) not in client_for(user).get("/notifications/").content.decode()
