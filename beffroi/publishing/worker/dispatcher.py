"""The publishing worker: where a post gets published.

One asyncio loop per process claims due publications in batches, a little ahead of free slots so a slot
never waits for a database round trip, publishes them concurrently over httpx (hundreds of calls in flight),
and writes the fenced results in batches. All database work runs
on one dedicated thread, in short transactions, never across a network call:

    claim (commit write-ahead attempts) → call the network → record the outcome only if the fence matches

A heartbeat renews the leases of what is in flight; a periodic sweep releases expired leases (→ unknown),
marks publications too late to send (→ missed) and reconciles unknown ones by reading the channel back.
Everything the sweep does is derived from the database (level-triggered): a crash loses nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.utils import timezone

from beffroi.core.ratelimit import MemoryLimiter, Rate, make_limiter
from beffroi.networks.base import ErrorKind, PublishError, PublishJob
from beffroi.networks.registry import connector_for
from beffroi.publishing.models import WorkerHeartbeat, fingerprint
from beffroi.publishing.states import State
from beffroi.publishing.tasks import notify_missed_publications
from beffroi.publishing.worker import claims

log = logging.getLogger("beffroi.worker")

CONNECTIONS_PER_CLIENT = 4
TOKEN_REFRESH_EVERY_S = 15 * 60.0

# Per channel, whatever the network: bursts of 30, then one every 2 s. Networks' own limits are lower per day.
DEFAULT_CHANNEL_RATE = Rate(30, 60.0)


_NOT_STARTED = PublishError(ErrorKind.RETRYABLE, "The worker stopped before sending.", code=claims.NOT_STARTED)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        concurrency: int = 200,
        claim_batch: int = 200,
        lease_s: float = 90.0,
        poll_s: float = 0.25,
        sweep_s: float = 5.0,
        http_timeout_s: float = 30.0,
        channel_rate: Rate | None = DEFAULT_CHANNEL_RATE,
        network_budgets: bool = True,
    ) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = concurrency
        self.claim_batch = claim_batch
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.http_timeout_s = http_timeout_s
        self.channel_rate = channel_rate
        self.network_budgets = network_budgets
        self.inflight: dict[int, int] = {}  # publication id → fence, from claim until the result is written
        self.ready: collections.deque[PublishJob] = collections.deque()  # claimed, waiting for a free slot
        self.calling = 0  # network calls under way: what `concurrency` bounds
        self._publishing: set[asyncio.Task] = set()
        self.published = 0
        self._db = ThreadPoolExecutor(1, thread_name_prefix="beffroi-db")
        # Results are written on a second connection, so that writing one batch and claiming the next
        # overlap (each waits on the database, not on Python).
        self._db_results = ThreadPoolExecutor(1, thread_name_prefix="beffroi-db-results")
        self._limiter = make_limiter()
        self._network_slots: dict[str, asyncio.Semaphore] = {}
        self._results: asyncio.Queue[claims.Outcome] = asyncio.Queue()
        self._slot_freed = asyncio.Event()
        self._connection_checked = time.monotonic()
        self._tokens_checked = 0.0  # monotonic time of the last token refresh pass
        # Token refreshes call networks synchronously: their own thread, never the claims' or the results'.
        self._maintenance = ThreadPoolExecutor(1, thread_name_prefix="beffroi-maintenance")

    async def db(self, function, *args, _executor=None, **kwargs):
        def call():
            # Keep the thread's connection (re-opening SQLite or PostgreSQL per call costs milliseconds), but
            # drop it when it broke (database restarted) or every minute, as Django does between requests.
            now = time.monotonic()
            if now - self._connection_checked > 60:
                close_old_connections()
                self._connection_checked = now
            try:
                return function(*args, **kwargs)
            except (InterfaceError, OperationalError):
                connections.close_all()
                raise

        return await asyncio.get_running_loop().run_in_executor(_executor or self._db, call)

    # The loop ------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.http_timeout_s, connect=10.0)
        started = timezone.now()
        await self.db(self._beat, started)
        log.info("worker started", extra={"worker_id": self.worker_id, "concurrency": self.concurrency})
        # Several small connection pools rather than one big one: httpcore scans its whole pool on every
        # request, which costs more than the request itself past a few dozen connections.
        shards = max(1, -(-self.concurrency // CONNECTIONS_PER_CLIENT))
        per_client = -(-self.concurrency // shards) + 4
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        async with contextlib.AsyncExitStack() as clients:
            self.http_clients = [
                await clients.enter_async_context(httpx.AsyncClient(timeout=timeout, limits=limits))
                for _ in range(shards)
            ]
            background = [
                asyncio.create_task(self._writer(), name="writer"),
                asyncio.create_task(self._heartbeat(stop, started), name="heartbeat"),
                asyncio.create_task(self._sweeper(stop), name="sweeper"),
            ]
            try:
                while not stop.is_set():
                    # Claimed work in hand (waiting or calling) is kept under twice the concurrency, and
                    # results not yet written under three times: a slow database slows claims down.
                    room = min(
                        self.claim_batch,
                        2 * self.concurrency - len(self.ready) - self.calling,
                        3 * self.concurrency - len(self.inflight),
                    )
                    jobs = []
                    # Not one by one as slots free: a claim costs a database round trip whatever its size.
                    if room >= max(1, self.concurrency // 2):
                        jobs = await self.db(claims.claim_due, self.worker_id, room, self.lease_s)
                        for job in jobs:
                            self.inflight[job.publication_id] = job.fence
                        self.ready.extend(jobs)
                        self._start_ready()
                    if jobs and len(jobs) == room:
                        continue  # more may be due right now
                    self._slot_freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wait_for_stop_or_slot(stop), timeout=self.poll_s)
            finally:
                # Graceful stop: no new claims or calls; what was claimed ahead goes back to the queue, and what
                # is in flight finishes and is recorded.
                while self.ready:
                    self._results.put_nowait(claims.Outcome(job=self.ready.popleft(), error=_NOT_STARTED))
                if self._publishing:
                    await asyncio.wait(self._publishing, timeout=self.http_timeout_s + 5)
                await self._results.join()
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await self.db(self._forget)
                await self.db(connections.close_all)  # each database thread's own connection
                await self.db(connections.close_all, _executor=self._db_results)
                await self.db(connections.close_all, _executor=self._maintenance)
        self._db.shutdown(wait=True)
        self._db_results.shutdown(wait=True)
        self._maintenance.shutdown(wait=True)
        log.info("worker stopped", extra={"worker_id": self.worker_id, "published": self.published})

    def http_for(self, job: PublishJob) -> httpx.AsyncClient:
        """A channel always uses the same client, so its connections are reused."""
        return self.http_clients[job.channel_id % len(self.http_clients)]

    async def _wait_for_stop_or_slot(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._slot_freed.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # One publish ---------------------------------------------------------------------------------------------

    def _start_ready(self) -> None:
        while self.ready and self.calling < self.concurrency:
            self.calling += 1
            task = asyncio.create_task(self._publish(self.ready.popleft()))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, job: PublishJob) -> None:
        outcome = claims.Outcome(job=job)
        try:
            outcome.published = await self._call_network(job)
        except PublishError as error:
            outcome.error = error
        except Exception as error:  # noqa: BLE001 — an unexpected failure must never look like "not sent"
            log.exception("unexpected error while publishing", extra={"publication_id": job.publication_id})
            outcome.error = PublishError(
                ErrorKind.AMBIGUOUS, f"Unexpected error ({type(error).__name__}); checking on the network."
            )
        finally:
            self.calling -= 1
            self._start_ready()
            self._slot_freed.set()
        connector = connector_for(job.network)
        renewed = getattr(connector, "refreshed_credentials", None)
        if renewed is not None:
            outcome.credentials = renewed(job)
        outcome.finished_at = timezone.now()
        await self._results.put(outcome)

    async def _call_network(self, job: PublishJob):
        connector = connector_for(job.network)
        if connector is None:
            raise PublishError(
                ErrorKind.PERMANENT, f"Beffroi cannot publish on {job.network} yet.", code="no_connector"
            )
        if job.credentials.get("_unreadable"):
            raise PublishError(
                ErrorKind.PERMANENT,
                "The channel's stored authorisation cannot be read (encryption key changed): reconnect it.",
                code="credentials_unreadable",
                needs_reconnection=True,
            )
        budgets = [] if self.channel_rate is None else [(f"channel:{job.channel_id}", self.channel_rate)]
        network_budget = connector.network_budget(job) if self.network_budgets else None
        if network_budget is not None:
            budgets.append(network_budget)
        for key, rate in budgets:
            if isinstance(self._limiter, MemoryLimiter):
                wait = self._limiter.reserve(key, rate)  # a few arithmetic operations: no thread needed
            else:
                wait = await asyncio.to_thread(self._limiter.reserve, key, rate)
            if wait > 0:
                raise PublishError(
                    ErrorKind.RETRYABLE,
                    "Publishing rate of this channel reached: it goes out a little later.",
                    code="local_rate_limit",
                    retry_after=wait,
                )
        slots = self._network_slots.setdefault(job.network, asyncio.Semaphore(connector.max_concurrency))
        async with slots:
            return await connector.publish(self.http_for(job), job)

    # Results, heartbeat, sweep -------------------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            batch = [await self._results.get()]
            await asyncio.sleep(0.005)  # gather what finished meanwhile: one transaction for many results
            while not self._results.empty() and len(batch) < 1000:
                batch.append(self._results.get_nowait())
            try:
                counts = await self.db(claims.record_outcomes, batch, _executor=self._db_results)
                self.published += counts["published"]
            except Exception:
                log.exception("could not record outcomes; the sweep will reconcile them")
            finally:
                for outcome in batch:
                    self.inflight.pop(outcome.job.publication_id, None)
                    self._results.task_done()
                self._slot_freed.set()

    async def _heartbeat(self, stop: asyncio.Event, started) -> None:
        while True:
            await asyncio.sleep(min(self.lease_s / 3, 5.0))
            try:
                # Same connection as the results: both update this worker's in-flight rows, and two connections
                # doing so in different orders could deadlock.
                await self.db(
                    claims.extend_leases, self.worker_id, dict(self.inflight), self.lease_s, _executor=self._db_results
                )
                await self.db(self._beat, started)
            except Exception:
                log.exception("heartbeat failed")

    def _beat(self, started) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": started,
                "beat_at": timezone.now(),
                "in_flight": len(self.inflight),
                "published": self.published,
            },
        )

    def _forget(self) -> None:
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        WorkerHeartbeat.objects.filter(beat_at__lt=timezone.now() - timedelta(days=1)).delete()

    async def _sweeper(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(self.sweep_s)

    async def sweep_once(self) -> dict[str, int]:
        released = await self.db(claims.release_expired_leases, _executor=self._db_results)
        missed = await self.db(claims.mark_missed)
        if missed:
            await self.db(notify_missed_publications.enqueue, missed)
        if time.monotonic() - self._tokens_checked > TOKEN_REFRESH_EVERY_S:
            self._tokens_checked = time.monotonic()
            await self.db(_refresh_tokens, _executor=self._maintenance)
        reconciled = 0
        jobs = await self.db(claims.unknown_due_for_check, 50)
        if jobs:
            results = await asyncio.gather(*(self._reconcile(job) for job in jobs))
            reconciled = sum(1 for state in results if state != State.UNKNOWN)
        removed = await self._remove_temporary_posts()
        return {"released": released, "missed": len(missed), "reconciled": reconciled, "removed": removed}

    async def _remove_temporary_posts(self) -> int:
        due = await self.db(claims.claim_removals, 50)
        if not due:
            return 0

        async def remove(publication_id: int, access, remote_id: str) -> str:
            connector = connector_for(access.network)
            error = None
            try:
                if connector is None:
                    raise PublishError(ErrorKind.PERMANENT, "No connector for this network.", code="no_connector")
                await connector.delete(self.http_for(access), access, remote_id)
            except PublishError as failure:
                error = failure
            except httpx.HTTPError as failure:
                error = PublishError(ErrorKind.RETRYABLE, f"Network unreachable ({type(failure).__name__}).")
            return await self.db(claims.record_removal, publication_id, error, _executor=self._db_results)

        results = await asyncio.gather(*(remove(*item) for item in due))
        return sum(1 for state in results if state == State.DELETED)

    async def _found(self, job: PublishJob, remote_id: str, url: str, at) -> str:
        return await self.db(claims.record_reconciliation, job, found_id=remote_id, found_url=url, found_at=at)

    async def _reconcile(self, job: PublishJob) -> str:
        evidence = await self.db(claims.evidence_of_success, job.publication_id)
        if evidence is not None:
            return await self._found(job, evidence.remote_id, evidence.remote_url, evidence.finished_at)
        connector = connector_for(job.network)
        if connector is None:
            return State.UNKNOWN
        can_read_back = getattr(connector, "can_read_back", None)
        if can_read_back is not None and not can_read_back(job):
            reason = "The network cannot be read back for this kind of post: check the account, it may be online."
            return await self.db(claims.give_up_check, job, reason)
        try:
            recent = await connector.recent_posts(self.http_for(job), job)
        except (httpx.HTTPError, PublishError, KeyError, ValueError) as error:
            await self.db(claims.postpone_check, job, f"Could not read the channel back yet: {type(error).__name__}")
            return State.UNKNOWN
        wanted = fingerprint(job.text)
        window_start = job.claimed_at - claims.RECONCILE_WINDOW
        for post in recent:
            if fingerprint(post.text) == wanted and (post.created_at is None or post.created_at >= window_start):
                return await self._found(job, post.remote_id, post.url, post.created_at)
        first_attempt_at = await self.db(_first_attempt_at, job.publication_id)
        # With a margin: the key must still be remembered when the re-sent request arrives.
        safe = (
            connector.supports_idempotency_key
            and first_attempt_at is not None
            and timezone.now() - first_attempt_at < connector.idempotency_window - timedelta(minutes=10)
        )
        return await self.db(claims.record_reconciliation, job, found_id=None, idempotent_resend_is_safe=safe)


def _refresh_tokens() -> dict[str, int]:
    from beffroi.channels.health import refresh_expiring_tokens

    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
        return refresh_expiring_tokens(http)


def _first_attempt_at(publication_id: int):
    from beffroi.publishing.models import Attempt

    first = Attempt.objects.filter(publication_id=publication_id).order_by("number").first()
    return first.started_at if first else None


def run_forever(dispatcher: Dispatcher) -> None:
    """Runs a dispatcher until SIGINT/SIGTERM (the `beffroi worker` command)."""
    import signal

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await dispatcher.run(stop)

    asyncio.run(main())
