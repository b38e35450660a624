from __future__ import annotations

import signal
import threading

import httpx
from django.core.management.base import BaseCommand, CommandError

from beffroi.channels.models import Channel
from beffroi.insights.models import InsightsSync
from beffroi.insights.sync import sync_channel_now
from beffroi.insights.worker import InsightsThread


class Command(BaseCommand):
    help = (
        "Collect statistics from the networks: continuously (default), or once for one channel "
        "(--channel ID) until it has caught up."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", type=int, help="collect this channel now, then stop")
        parser.add_argument("--poll", type=float, default=30.0, help="seconds between looks for due channels")

    def handle(self, *args, channel: int | None, poll: float, **options):
        if channel:
            found = Channel.objects.filter(pk=channel).first()
            if found is None:
                raise CommandError(f"No channel {channel}.")
            with httpx.Client(timeout=60.0) as http:
                status = sync_channel_now(found, http)
            sync = InsightsSync.objects.get(channel=found)
            self.stdout.write(f"{found}: {status}" + (f" — {sync.last_error}" if sync.last_error else ""))
            return
        thread = InsightsThread(poll_s=poll)
        thread.start()
        self.stdout.write("Collecting statistics (Ctrl+C to stop).")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        thread.stop()
