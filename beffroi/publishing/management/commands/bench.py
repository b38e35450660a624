"""`beffroi bench publish`: how fast and how faithfully the worker drains a burst (or a steady stream) of due
publications into the network simulator. Prints one JSON line last.

It never touches your data: it makes a throwaway database (a SQLite file in a temporary folder, or a
temporary PostgreSQL database with --database postgres), migrates it, and runs itself there.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Benchmarks publishing: `beffroi bench publish [--posts N --channels N --latency-ms MS …]`."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["publish"])
        parser.add_argument("--posts", type=int, default=10_000)
        parser.add_argument("--channels", type=int, default=2_000)
        parser.add_argument("--latency-ms", type=float, default=100.0)
        parser.add_argument("--concurrency", type=int, default=400, help="publishes in flight per worker")
        parser.add_argument("--workers", type=int, default=1, help="1 = in this process; more = worker processes")
        parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
        parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
        parser.add_argument("--steady", action="store_true", help="1 publication per second instead of a burst")
        parser.add_argument("--duration", type=int, default=600, help="seconds of steady load (--steady)")
        parser.add_argument("--inner", action="store_true", help="(internal: run inside the throwaway database)")

    def handle(self, *args, **options):
        if options["inner"]:
            return self._measure(options)
        return self._outer(options)

    # Outer: a throwaway database, then this command again inside it ---------------------------------------

    def _outer(self, options) -> None:
        with tempfile.TemporaryDirectory(prefix="beffroi-bench-") as data_dir:
            env = {**os.environ, "BEFFROI_DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"}
            database_name = None
            if options["database"] == "postgres":
                import psycopg

                database_name = f"beffroi_bench_{os.getpid()}"
                with psycopg.connect(options["postgres_url"], autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{database_name}"')
                base = options["postgres_url"].rsplit("/", 1)[0]
                env["DATABASE_URL"] = f"{base}/{database_name}"
            else:
                env.pop("DATABASE_URL", None)
            try:
                beffroi = [sys.executable, "-m", "beffroi.cli"]
                subprocess.run([*beffroi, "migrate", "-v", "0"], env=env, check=True)  # noqa: S603
                argv = [a for a in sys.argv[1:] if a != "bench"]
                inner = [*beffroi, "bench", *[a for a in argv if a not in ("--inner",)], "--inner"]
                completed = subprocess.run(inner, env=env, check=False)  # noqa: S603
                if completed.returncode:
                    raise CommandError("the benchmark failed")
            finally:
                if database_name:
                    import psycopg

                    with psycopg.connect(options["postgres_url"], autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')

    # Inner: load, run, measure -----------------------------------------------------------------------------

    def _measure(self, options) -> None:
        from django.db import connection
        from django.utils import timezone

        from beffroi.publishing.models import Publication
        from beffroi.publishing.states import State
        from beffroi.simulator import SimulatorProcess

        posts, channel_count = options["posts"], options["channels"]
        steady = options["steady"]
        if steady:
            posts = options["duration"]
        with SimulatorProcess(latency_ms=options["latency_ms"]) as simulator:
            start_at = timezone.now() + timedelta(seconds=5)
            self.stderr.write(f"Loading {posts} publications on {channel_count} channels…")
            _load(simulator.url, posts, channel_count, start_at, spacing_s=1.0 if steady else 0.0)
            # A live database's statistics are kept by autovacuum; a table bulk-loaded a second ago has none,
            # and the planner would then sort every due row on each claim instead of reading the index.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            self.stderr.write("Publishing…")
            wall_start = time.monotonic()
            rss = _run_workers(options, posts, timeout_s=(posts + 600) if steady else 900)
            run_s = time.monotonic() - wall_start
            stats = simulator.stats()
        rows = list(Publication.objects.filter(state=State.PUBLISHED).values_list("due_at", "published_at"))
        lateness = sorted((published - due).total_seconds() for due, published in rows)
        last = max((published for _due, published in rows), default=start_at)
        drain_s = max(0.0, (last - start_at).total_seconds())
        concurrency = options["concurrency"] * options["workers"]
        ideal_s = posts * options["latency_ms"] / 1000 / concurrency
        result = {
            "benchmark": "publish-steady" if steady else "publish-burst",
            "posts": posts,
            "channels": channel_count,
            "latency_ms": options["latency_ms"],
            "concurrency": concurrency,
            "workers": options["workers"],
            "database": connection.vendor,
            "drain_s": round(drain_s, 2),
            "ideal_s": round(ideal_s, 2),
            "ratio": round(drain_s / ideal_s, 2) if ideal_s and not steady else None,
            "throughput_per_s": round(len(rows) / drain_s, 1) if drain_s else None,
            "p50_s": _percentile(lateness, 50),
            "p95_s": _percentile(lateness, 95),
            "p99_s": _percentile(lateness, 99),
            "duplicates": stats["duplicates"],
            "lost": posts - len(rows),
            "rss_mb": round(rss, 1),
            "run_s": round(run_s, 1),
        }
        self.stdout.write(json.dumps(result))


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 3)


def _load(url: str, posts: int, channel_count: int, start_at, spacing_s: float) -> None:
    from beffroi.channels.models import Channel
    from beffroi.core.vault import encrypt_json
    from beffroi.networks.registry import Network
    from beffroi.organisations.models import Organisation
    from beffroi.publishing.models import Post, Publication, fingerprint
    from beffroi.publishing.states import State

    organisation = Organisation.objects.create(name="Benchmark", slug=f"bench-{os.getpid()}")
    channels = Channel.objects.bulk_create(
        [
            Channel(
                organisation=organisation,
                network=Network.MASTODON,
                display_name=f"bench {n}",
                remote_id=f"b{n}",
                config={"instance_url": url},
                credentials_encrypted=encrypt_json({"access_token": f"tok-b{n}"}),
            )
            for n in range(channel_count)
        ],
        batch_size=1000,
    )
    post_rows = Post.objects.bulk_create(
        [Post(organisation=organisation, text=f"Benchmark post {n}") for n in range(posts)], batch_size=1000
    )
    Publication.objects.bulk_create(
        [
            Publication(
                post=post,
                channel=channels[n % channel_count],
                state=State.SCHEDULED,
                due_at=start_at + timedelta(seconds=n * spacing_s),
                run_at=start_at + timedelta(seconds=n * spacing_s),
                content_fingerprint=fingerprint(post.text),
            )
            for n, post in enumerate(post_rows)
        ],
        batch_size=1000,
    )


def _run_workers(options, posts: int, timeout_s: float) -> float:
    """Runs the worker(s) until every publication is settled; returns the peak RSS (MB) of a worker."""
    import asyncio

    from beffroi.publishing.models import Publication
    from beffroi.publishing.states import State

    settled = (State.PUBLISHED, State.FAILED, State.MISSED)

    def done() -> bool:
        return not Publication.objects.exclude(state__in=settled).exists()

    if options["workers"] == 1:
        from beffroi.publishing.worker.dispatcher import Dispatcher

        async def main():
            stop = asyncio.Event()
            # Rate limits off: one simulator stands for many instances and accounts.
            dispatcher = Dispatcher(
                concurrency=options["concurrency"],
                claim_batch=500,
                poll_s=0.1,
                channel_rate=None,
                network_budgets=False,
            )
            task = asyncio.create_task(dispatcher.run(stop))
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.5)
                if await asyncio.to_thread(done):
                    break
            stop.set()
            await task

        asyncio.run(main())
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = [
        subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "beffroi.cli",
                "worker",
                "--concurrency",
                str(options["concurrency"]),
                "--poll",
                "0.1",
                "--no-rate-limits",
                "--no-tasks",
            ],
        )
        for _ in range(options["workers"])
    ]
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done():
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
