from __future__ import annotations

import pytest

from beffroi.accounts.models import User
from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations import services as org_services
from beffroi.organisations.models import Membership, PageGroup
from beffroi.organisations.roles import Role


@pytest.fixture
def mastodon_channels(tenant_a):
    """Two Mastodon channels of organisation A, in two zones, pointing at a simulator (URL set by tests)."""

    def make(base_url: str = "http://127.0.0.1:9", count: int = 2) -> list[Channel]:
        channels = []
        for n in range(count):
            channel = Channel.objects.create(
                organisation=tenant_a.organisation,
                group=tenant_a.local,
                network=Network.MASTODON,
                display_name=f"Mastodon {n}",
                remote_id=f"m{n}",
                time_zone="America/Montreal" if n == 1 else "",
                config={"instance_url": base_url},
            )
            channel.credentials = {"access_token": f"tok-account{n}"}
            channel.save()
            channels.append(channel)
        return channels

    return make


def scoped_validator(tenant, email: str, group: PageGroup) -> Membership:
    user = User.objects.create_user(email, "correct-horse-battery-9", full_name=email.split("@")[0])
    membership = Membership.objects.create(organisation=tenant.organisation, user=user, role=Role.VALIDATOR)
    membership.groups.set([group])
    return membership


class Chain:
    """Posts to the `local` group need step 1 (group A: "Service des affaires publiques"), then step 2 (group B:
    "Direction"); one validator limited to each group."""

    def __init__(self, tenant):
        national = tenant.national
        self.group_a = PageGroup.objects.create(
            organisation=tenant.organisation, name="Service des affaires publiques", level=2, parent=national
        )
        self.group_b = PageGroup.objects.create(
            organisation=tenant.organisation, name="Direction", level=2, parent=national
        )
        self.step_1 = org_services.add_approval_step(tenant.local, approver_group=self.group_a)
        self.step_2 = org_services.add_approval_step(tenant.local, approver_group=self.group_b, label="Direction")
        self.a = scoped_validator(tenant, "affaires@a.example", self.group_a)
        self.b = scoped_validator(tenant, "direction@a.example", self.group_b)


@pytest.fixture
def chain(tenant_a) -> Chain:
    return Chain(tenant_a)
