"""Channel credentials are encrypted at rest, survive key rotation, and are never shown."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from beffroi.channels.models import Channel
from beffroi.core.vault import VaultError
from beffroi.organisations.roles import Role


def _raw(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials_encrypted FROM channels_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest(tenant_a):
    stored = _raw(tenant_a.channel)
    assert "secret-token-a" not in stored and stored.startswith("gAAAAA")
    assert Channel.objects.get(pk=tenant_a.channel.pk).credentials == {"access_token": "secret-token-a"}


@pytest.mark.django_db
def test_key_rotation_keeps_credentials_readable_and_moves_them_to_the_new_key(tenant_a, settings):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]
    channel = Channel.objects.get(pk=tenant_a.channel.pk)
    assert channel.credentials["access_token"] == "secret-token-a"  # old key still decrypts

    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
    assert Channel.objects.get(pk=tenant_a.channel.pk).credentials["access_token"] == "secret-token-a"

    settings.TOKEN_ENCRYPTION_KEYS = [old_key]  # and the old key alone no longer reads them
    with pytest.raises(VaultError) as error:
        _ = Channel.objects.get(pk=tenant_a.channel.pk).credentials
    assert "secret-token-a" not in str(error.value)


@pytest.mark.django_db
def test_credentials_never_appear_in_pages_api_admin_or_repr(tenant_a, client_for):
    from beffroi.accounts.models import User

    stored = _raw(tenant_a.channel)
    slug = tenant_a.organisation.slug
    admin_client = client_for(tenant_a.member(Role.ADMIN))
    superuser = User.objects.create_superuser("root@example.org", "x")
    root_client = client_for(superuser)
    pages = [
        admin_client.get(f"/o/{slug}/settings/channels/"),
        admin_client.get(f"/o/{slug}/settings/channels/{tenant_a.channel.pk}/"),
        admin_client.get(f"/api/v1/organisations/{slug}/channels/{tenant_a.channel.pk}"),
        root_client.get(f"/admin/channels/channel/{tenant_a.channel.pk}/change/"),
        root_client.get("/admin/channels/channel/"),
    ]
    for response in pages:
        assert response.status_code == 200
        body = response.content.decode()
        assert "secret-token-a" not in body and stored not in body and "credentials" not in body
    assert "secret-token-a" not in repr(tenant_a.channel) + str(tenant_a.channel)


def test_secrets_are_redacted_from_log_records(caplog):
    from beffroi.core.logging import JsonFormatter, RedactSecretsFilter

    logger = logging.getLogger("beffroi.test")
    record = logger.makeRecord(
        "beffroi.test",
        logging.ERROR,
        __file__,
        1,
        "refresh failed: access_token=EAAGm0PX4ZCps %s password: hunter22 Authorization: Bearer abc.def.ghijkl",
        ("gAAAAABlongfernettokenvalue1234567890",),
        None,
    )
    RedactSecretsFilter().filter(record)
    line = JsonFormatter().format(record)
    for secret in ("EAAGm0PX4ZCps", "hunter22", "abc.def.ghijkl", "gAAAAABlongfernettokenvalue1234567890"):
        assert secret not in line
    assert "[redacted]" in line and '"level": "error"' in line
