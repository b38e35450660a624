"""Invitations by e-mail: sent, accepted by a new or an existing person, expired, cancelled."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from beffroi.accounts.models import User
from beffroi.organisations.models import Invitation, Membership
from beffroi.organisations.roles import Role

# E-mails leave when the transaction commits (transaction.on_commit): real transactions here.
pytestmark = pytest.mark.django_db(transaction=True)


def _invite(client, slug, **data):
    return client.post(f"/o/{slug}/settings/members/", data)


def test_invited_person_creates_an_account_and_joins_with_the_role_and_scope(tenant_a, client_for):
    admin_client = client_for(tenant_a.member(Role.ADMIN))
    response = _invite(
        admin_client,
        tenant_a.organisation.slug,
        email="Animatrice@Example.org",
        role="editor",
        groups=[tenant_a.local.pk],
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["animatrice@example.org"]
    assert "Org a" in message.subject
    link = re.search(r"http://[^\s]+/invitations/([\w-]+)/", message.body)
    assert link, message.body

    visitor = Client()
    page = visitor.get(f"/invitations/{link.group(1)}/")
    assert page.status_code == 200
    # A weak password is refused and nothing is created.
    weak = visitor.post(f"/invitations/{link.group(1)}/", {"full_name": "Anne", "password": "12345678"})
    assert weak.status_code == 200
    assert not User.objects.filter(email="animatrice@example.org").exists()
    response = visitor.post(
        f"/invitations/{link.group(1)}/", {"full_name": "Anne Animatrice", "password": "un-mot-de-passe-solide"}
    )
    assert response.status_code == 302 and response["Location"] == f"/o/{tenant_a.organisation.slug}/"
    membership = Membership.objects.get(user__email="animatrice@example.org")
    assert membership.role == Role.EDITOR
    assert list(membership.groups.all()) == [tenant_a.local]
    # The link cannot be used twice.
    assert Client().get(f"/invitations/{link.group(1)}/").status_code == 404
    # The new person is logged in and can log in again with the password.
    assert Client().login(email="animatrice@example.org", password="un-mot-de-passe-solide")


def test_existing_person_of_another_organisation_accepts_while_logged_in(tenant_a, tenant_b, client_for):
    person = tenant_b.member(Role.ANALYST)
    invitation = Invitation.objects.create(organisation=tenant_a.organisation, email=person.email, role="analyst")
    client = client_for(person)
    response = client.post(f"/invitations/{invitation.token}/")
    assert response.status_code == 302
    assert set(person.memberships.values_list("organisation__slug", flat=True)) == {"org-a", "org-b"}


def test_invitation_for_someone_else_is_refused_to_the_logged_in_person(tenant_a, tenant_b, client_for):
    invitation = Invitation.objects.create(organisation=tenant_a.organisation, email="other@example.org")
    client = client_for(tenant_b.member(Role.ANALYST))
    client.cookies["beffroi_language"] = "en"
    response = client.post(f"/invitations/{invitation.token}/")
    assert "This invitation was sent to other@example.org" in response.content.decode()
    assert not tenant_a.organisation.memberships.filter(user=tenant_b.member(Role.ANALYST)).exists()


def test_expired_or_cancelled_invitations_cannot_be_used(tenant_a, client_for):
    expired = Invitation.objects.create(
        organisation=tenant_a.organisation, email="late@example.org", expires_at=timezone.now() - timedelta(days=1)
    )
    assert Client().get(f"/invitations/{expired.token}/").status_code == 404
    # An expired invitation makes way for a new one.
    client = client_for(tenant_a.member(Role.ADMIN))
    assert _invite(client, tenant_a.organisation.slug, email="late@example.org", role="editor").status_code == 302
    fresh = Invitation.objects.get(email="late@example.org", revoked_at__isnull=True)
    client.post(f"/o/{tenant_a.organisation.slug}/settings/invitations/{fresh.pk}/revoke/")
    assert Client().get(f"/invitations/{fresh.token}/").status_code == 404
    assert Client().get("/invitations/not-a-token/").status_code == 404


def test_resending_an_invitation_extends_it_and_sends_it_again(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    _invite(client, tenant_a.organisation.slug, email="again@example.org", role="moderator")
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    client.post(f"/o/{tenant_a.organisation.slug}/settings/invitations/{invitation.pk}/resend/")
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=13)
    assert len(mail.outbox) == 2


def test_invitation_email_is_in_the_organisations_language(tenant_a, client_for):
    tenant_a.organisation.language = "en"
    tenant_a.organisation.save()
    _invite(client_for(tenant_a.member(Role.ADMIN)), tenant_a.organisation.slug, email="x@example.org", role="editor")
    assert "You are invited to join Org a on Beffroi" in mail.outbox[0].body
    tenant_a.organisation.language = "fr"
    tenant_a.organisation.save()
    _invite(client_for(tenant_a.member(Role.ADMIN)), tenant_a.organisation.slug, email="y@example.org", role="editor")
    assert "Org a" in mail.outbox[1].body and "You are invited" not in mail.outbox[1].body
