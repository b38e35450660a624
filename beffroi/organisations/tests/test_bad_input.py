"""Bad input gives a clear French (or English) message and writes nothing partial."""

from __future__ import annotations

import html

import pytest
from django.core import mail

from beffroi.organisations.models import Invitation, Membership, Organisation, PageGroup
from beffroi.organisations.roles import Role


def _french(client):
    client.cookies["beffroi_language"] = "fr"
    return client


def _english(client):
    client.cookies["beffroi_language"] = "en"
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "n'est pas un fuseau horaire connu"), ("en", "is not a known time zone")],
)
def test_invalid_time_zone_is_refused_with_a_clear_message(language, expected, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = language
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/settings/",
        {"name": "Renamed", "time_zone": "Europe/Lile", "language": "fr"},
    )
    assert response.status_code == 200
    assert expected in html.unescape(response.content.decode())
    tenant_a.organisation.refresh_from_db()
    assert (tenant_a.organisation.name, tenant_a.organisation.time_zone) == ("Org a", "Europe/Paris")


@pytest.mark.django_db
def test_invalid_channel_time_zone_is_refused(tenant_a, client_for):
    client = _english(client_for(tenant_a.member(Role.ADMIN)))
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/settings/channels/{tenant_a.channel.pk}/",
        {"display_name": "Changed", "time_zone": "Mars/Olympus", "status": "active"},
    )
    assert "is not a known time zone" in response.content.decode()
    tenant_a.channel.refresh_from_db()
    assert tenant_a.channel.display_name == "a page"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Assurez-vous que cette valeur comporte au plus 120 caractères"),
        ("en", "Ensure this value has at most 120 characters"),
    ],
)
def test_over_long_names_are_refused(language, expected, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = language
    long_name = "x" * 121
    slug = tenant_a.organisation.slug
    for url, data in [
        (f"/o/{slug}/settings/", {"name": long_name, "time_zone": "Europe/Paris", "language": "fr"}),
        (f"/o/{slug}/settings/groups/", {"name": long_name, "level": "3", "parent": tenant_a.regional.pk}),
        (
            f"/o/{slug}/settings/channels/{tenant_a.channel.pk}/",
            {"display_name": long_name, "time_zone": "", "status": "active"},
        ),
    ]:
        response = client.post(url, data)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
    assert not PageGroup.objects.filter(name=long_name).exists()
    assert Organisation.objects.get(pk=tenant_a.organisation.pk).name == "Org a"


@pytest.mark.django_db
def test_inviting_an_existing_member_is_refused_and_sends_nothing(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    client = _english(client_for(tenant_a.member(Role.ADMIN)))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/o/{tenant_a.organisation.slug}/settings/members/",
            {"email": tenant_a.member(Role.EDITOR).email.upper(), "role": "validator"},
        )
    assert "This person is already a member of the organisation." in response.content.decode()
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_inviting_an_existing_member_is_refused_in_french(tenant_a, client_for):
    client = _french(client_for(tenant_a.member(Role.ADMIN)))
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/settings/members/",
        {"email": tenant_a.member(Role.EDITOR).email, "role": "validator"},
    )
    assert "Cette personne est déjà membre de l'organisation." in html.unescape(response.content.decode())
    assert Invitation.objects.count() == 0


@pytest.mark.django_db
def test_second_invitation_to_a_waiting_address_is_refused(tenant_a, client_for, django_capture_on_commit_callbacks):
    client = _english(client_for(tenant_a.member(Role.ADMIN)))
    url = f"/o/{tenant_a.organisation.slug}/settings/members/"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"email": "new@example.org", "role": "editor"}).status_code == 302
        response = client.post(url, {"email": "New@Example.org", "role": "admin"})
    assert "An invitation is already waiting for this address" in response.content.decode()
    assert Invitation.objects.get().role == "editor"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_duplicate_membership_is_impossible(tenant_a):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(organisation=tenant_a.organisation, user=tenant_a.member(Role.EDITOR), role="admin")
    assert Membership.objects.filter(user=tenant_a.member(Role.EDITOR)).count() == 1


@pytest.mark.django_db
def test_accepting_an_invitation_as_an_existing_member_is_refused(tenant_a, client_for):
    from beffroi.organisations.services import accept_invitation

    editor = tenant_a.member(Role.EDITOR)
    invitation = Invitation.objects.create(organisation=tenant_a.organisation, email=editor.email, role="admin")
    client = _english(client_for(editor))
    response = client.post(f"/invitations/{invitation.token}/")
    assert "You are already a member of this organisation." in response.content.decode()
    assert Membership.objects.get(user=editor).role == Role.EDITOR
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    from django.utils import translation

    with translation.override("en"), pytest.raises(Exception, match="already a member"):
        accept_invitation(invitation, user=editor)


@pytest.mark.django_db
def test_admin_cannot_be_limited_to_groups(tenant_a, client_for):
    client = _english(client_for(tenant_a.member(Role.ADMIN)))
    membership = Membership.objects.get(user=tenant_a.member(Role.EDITOR))
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/settings/members/{membership.pk}/",
        {"role": "admin", "groups": [tenant_a.local.pk]},
    )
    assert "An admin acts on the whole organisation and cannot be limited." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR and not membership.groups.exists()


@pytest.mark.django_db
def test_last_admin_cannot_be_removed_or_demoted(tenant_a, client_for):
    admin = tenant_a.member(Role.ADMIN)
    membership = Membership.objects.get(user=admin)
    client = _english(client_for(admin))
    slug = tenant_a.organisation.slug
    response = client.post(f"/o/{slug}/settings/members/{membership.pk}/", {"role": "editor"})
    assert "The organisation needs at least one admin." in response.content.decode()
    response = client.post(f"/o/{slug}/settings/members/{membership.pk}/remove/", follow=True)
    assert "The organisation needs at least one admin." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


@pytest.mark.django_db
def test_group_tree_rules(tenant_a, client_for):
    client = _english(client_for(tenant_a.member(Role.ADMIN)))
    slug = tenant_a.organisation.slug
    # A regional group cannot sit under a local one (locals are not offered as parents at all).
    response = client.post(f"/o/{slug}/settings/groups/", {"name": "X", "level": "2", "parent": tenant_a.local.pk})
    assert "Select a valid choice" in response.content.decode()
    # A national group cannot sit under a regional one.
    response = client.post(f"/o/{slug}/settings/groups/", {"name": "X", "level": "1", "parent": tenant_a.regional.pk})
    assert "A group of level “National” cannot sit under a group of level “Regional”." in response.content.decode()
    # Moving the national group under its own region would make a cycle.
    response = client.post(
        f"/o/{slug}/settings/groups/{tenant_a.national.pk}/",
        {"name": tenant_a.national.name, "level": "3", "parent": tenant_a.regional.pk},
    )
    assert "cannot be placed inside itself" in response.content.decode()
    # Duplicate names, whatever the case.
    response = client.post(f"/o/{slug}/settings/groups/", {"name": "A LOCAL", "level": "3", "parent": ""})
    assert "A page group with this name already exists." in response.content.decode()
    # A group with channels cannot be deleted.
    response = client.post(f"/o/{slug}/settings/groups/{tenant_a.local.pk}/delete/", follow=True)
    assert "Move its channels to another group first." in response.content.decode()
    assert PageGroup.objects.filter(organisation=tenant_a.organisation).count() == 4
    tenant_a.national.refresh_from_db()
    assert tenant_a.national.parent is None and tenant_a.national.level == 1
