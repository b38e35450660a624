from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from beffroi.channels.models import Channel
from beffroi.core.vault import rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored credential with the first (primary) token-encryption key."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for channel in Channel.objects.exclude(credentials_encrypted="").select_for_update():
                channel.credentials_encrypted = rotate(channel.credentials_encrypted)
                channel.save(update_fields=["credentials_encrypted"])
                count += 1
        self.stdout.write(self.style.SUCCESS(f"{count} credential(s) re-encrypted with the primary key."))
