from __future__ import annotations

import pytest

from beffroi.channels.models import Channel
from beffroi.networks.registry import Network


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
