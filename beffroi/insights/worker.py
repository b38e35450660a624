"""Collecting statistics in the background: a thread beside the web server (`beffroi serve`) or a publishing
worker (`beffroi worker`), or its own process (`beffroi collect_insights`). Any number may run on any hosts:
each channel is leased by one of them at a time (see sync.claim_due)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import httpx
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from beffroi.insights.sync import new_owner, sync_due
from beffroi.networks.registry import insights_readers

log = logging.getLogger(__name__)

POLL_S = 30.0  # statistics move slowly: looking twice a minute for due channels is plenty
BATCH = 5
HOUSEKEEPING_EVERY = timedelta(hours=1)
WATCHED_EVERY = timedelta(days=1)  # watched accounts are read again once a day
WATCHED_PER_ROUND = 10


def refresh_watched(http: httpx.Client, now=None, limit: int = WATCHED_PER_ROUND) -> int:
    """Reads the watched accounts not read for a day; each is claimed first (its read time set) so two workers
    do not read the same one."""
    from beffroi.insights.models import WatchedAccount
    from beffroi.insights.watching import read_account

    now = now or timezone.now()
    stale = Q(read_at__isnull=True) | Q(read_at__lt=now - WATCHED_EVERY)
    read = 0
    for account in WatchedAccount.objects.filter(stale).order_by("read_at")[:limit]:
        if WatchedAccount.objects.filter(pk=account.pk).filter(stale).update(read_at=now):
            read += read_account(account, http=http, now=now)
    return read


def housekeeping(http: httpx.Client) -> dict[str, int]:
    """What statistics need once in a while beside collecting: the e-mailed reports that are due (each sent
    once, whoever runs this) and the watched accounts."""
    from beffroi.insights.reports import send_due_reports

    close_old_connections()
    try:
        return {"reports": send_due_reports(), "watched": refresh_watched(http)}
    finally:
        close_old_connections()


def collect_once(http: httpx.Client, owner: str, limit: int = BATCH) -> dict[str, int]:
    close_old_connections()
    try:
        return sync_due(http, owner=owner, limit=limit)
    finally:
        close_old_connections()


class InsightsThread(threading.Thread):
    def __init__(self, poll_s: float = POLL_S) -> None:
        super().__init__(name="beffroi-insights", daemon=True)
        self.poll_s = poll_s
        self.owner = new_owner()
        self._stop_event = threading.Event()

    def run(self) -> None:
        # Loading the readers imports each network's client (atproto alone takes a second or two): done here,
        # in the background at startup, rather than by the first person who opens the statistics.
        insights_readers()
        last_housekeeping = None
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False) as http:
            while not self._stop_event.is_set():
                if last_housekeeping is None or timezone.now() - last_housekeeping >= HOUSEKEEPING_EVERY:
                    last_housekeeping = timezone.now()
                    try:
                        housekeeping(http)
                    except Exception:  # noqa: BLE001 — reports and watched pages are tried again next hour
                        log.exception("statistics housekeeping failed")
                try:
                    outcomes = collect_once(http, self.owner)
                except Exception:  # noqa: BLE001 — a bad round must not stop collection for good
                    log.exception("statistics collection round failed")
                    outcomes = {}
                # Straight on while there is backlog (a first sync's two years come in 90-day windows).
                if sum(outcomes.values()) < BATCH:
                    self._stop_event.wait(self.poll_s)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_event.set()
        self.join(timeout)
