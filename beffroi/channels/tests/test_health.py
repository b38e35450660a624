"""Channel health: tokens renewed ahead of their expiry, a refusal turned into "needs reconnection" once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core import mail

from beffroi.channels.health import refresh_expiring_tokens
from beffroi.channels.models import Channel
from beffroi.organisations.roles import Role
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, ig_user_id_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph():
    with SimulatorServer(networks=[GraphNetwork]) as server:
        yield server


def _instagram(tenant, graph, name: str, token: str, *, expires_in: timedelta) -> Channel:
    now = datetime.now(UTC)
    channel = Channel.objects.create(
        organisation=tenant.organisation,
        group=tenant.local,
        network="instagram",
        display_name=f"Instagram {name}",
        remote_id=ig_user_id_for(name),
        config={"login": "instagram", "ig_user_id": ig_user_id_for(name), "api_host": graph.url, "username": name},
        token_expires_at=now + expires_in,
    )
    channel.credentials = {
        "access_token": token,
        "issued_at": (now - timedelta(days=55)).isoformat(),
        "expires_at": (now + expires_in).isoformat(),
        "refresh_token": "kept-even-if-not-resent",
    }
    channel.save()
    return channel


def test_tokens_close_to_expiry_are_renewed_and_the_others_left_alone(tenant_a, graph):
    soon = _instagram(tenant_a, graph, "alice", "tok-alice", expires_in=timedelta(days=5))
    later = _instagram(tenant_a, graph, "carol", "tok-carol", expires_in=timedelta(days=50))
    with httpx.Client(timeout=10) as http:
        counts = refresh_expiring_tokens(http)
    assert counts == {"refreshed": 1, "failed": 0, "skipped": 0}
    soon.refresh_from_db()
    assert soon.token_expires_at > datetime.now(UTC) + timedelta(days=55)
    # Stored: the renewed token's issue time is now (the simulator hands back the same token string).
    assert datetime.fromisoformat(soon.credentials["issued_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert soon.credentials["refresh_token"] == "kept-even-if-not-resent"
    assert soon.status == Channel.Status.ACTIVE
    later.refresh_from_db()
    assert later.credentials["access_token"] == "tok-carol"  # not due: untouched


def test_a_refused_renewal_marks_the_channel_once_and_tells_its_managers(tenant_a, graph):
    refused = _instagram(tenant_a, graph, "bob", "revoked-bob", expires_in=timedelta(days=2))
    with httpx.Client(timeout=10) as http:
        assert refresh_expiring_tokens(http)["failed"] == 1
        # The next pass does not touch a channel that already needs reconnection (no second e-mail).
        assert refresh_expiring_tokens(http) == {"refreshed": 0, "failed": 0, "skipped": 0}
    refused.refresh_from_db()
    assert refused.status == Channel.Status.NEEDS_RECONNECTION and refused.status_reason
    assert [m.to for m in mail.outbox] == [[tenant_a.member(Role.ADMIN).email]]
