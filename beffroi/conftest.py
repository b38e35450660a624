"""Shared test fixtures: two organisations (A and B) with groups, channels and one person per role."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client

from beffroi.accounts.models import User
from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership, Organisation, PageGroup
from beffroi.organisations.roles import Role

PASSWORD = "correct-horse-battery-9"


def pytest_configure(config):
    from django.conf import settings

    # Tests render pages without running collectstatic first: plain (unhashed) static URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Background tasks run at once in tests (their effects are asserted right after the call).
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    # Hashing passwords slowly protects people, not test data.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Tenant:
    organisation: Organisation
    national: PageGroup
    regional: PageGroup
    local: PageGroup
    other_local: PageGroup
    channel: Channel  # in `local`
    other_channel: Channel  # in `other_local`
    people: dict[str, User] = field(default_factory=dict)

    def member(self, role: str) -> User:
        return self.people[role]


def make_tenant(prefix: str, time_zone: str = "Europe/Paris") -> Tenant:
    organisation = Organisation.objects.create(name=f"Org {prefix}", slug=f"org-{prefix}", time_zone=time_zone)
    national = PageGroup.objects.create(organisation=organisation, name=f"{prefix} national", level=1)
    regional = PageGroup.objects.create(organisation=organisation, name=f"{prefix} region", level=2, parent=national)
    local = PageGroup.objects.create(organisation=organisation, name=f"{prefix} local", level=3, parent=regional)
    other_local = PageGroup.objects.create(
        organisation=organisation, name=f"{prefix} other local", level=3, parent=regional
    )
    channel = Channel.objects.create(
        organisation=organisation,
        group=local,
        network=Network.FACEBOOK,
        display_name=f"{prefix} page",
        remote_id=f"{prefix}-1",
    )
    channel.credentials = {"access_token": f"secret-token-{prefix}"}
    channel.save()
    other_channel = Channel.objects.create(
        organisation=organisation,
        group=other_local,
        network=Network.MASTODON,
        display_name=f"{prefix} other page",
        remote_id=f"{prefix}-2",
    )
    tenant = Tenant(organisation, national, regional, local, other_local, channel, other_channel)
    for role in Role.values:
        user = User.objects.create_user(f"{role}@{prefix}.example", PASSWORD, full_name=f"{role} {prefix}")
        Membership.objects.create(organisation=organisation, user=user, role=role)
        tenant.people[role] = user
    return tenant


@pytest.fixture
def tenant_a(db) -> Tenant:
    return make_tenant("a")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return make_tenant("b", time_zone="America/Toronto")


@pytest.fixture
def client_for():
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
