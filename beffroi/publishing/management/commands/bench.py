"""`beffroi bench publish`: how fast and how faithfully the worker drains a burst (or a steady stream) of due
publications into the network simulator. Prints one JSON line last.

`beffroi bench calendar`: how fast the calendar's events endpoint answers for a month view over N publications
(server time, through Django's test client: middleware, tenancy, one query, JSON). Prints one JSON line last.

`beffroi bench insights`: the statistics computations (overview, audience, heatmap, best time) over years of
stored data, and DuckDB on the same daily measures for comparison (beffroi/insights/bench.py). Prints one JSON
line last.

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
    help = (
        "Benchmarks publishing: `beffroi bench publish [--posts N --channels N --latency-ms MS …]`; "
        "the calendar: `beffroi bench calendar [--publications N --requests N]`; "
        "statistics: `beffroi bench insights [--channels N --days N --snapshots N --events N --requests N]`."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["publish", "calendar", "insights"])
        parser.add_argument("--posts", type=int, default=10_000)
        parser.add_argument("--channels", type=int, default=None, help="publish: 2,000; insights: 100")
        parser.add_argument("--latency-ms", type=float, default=100.0)
        parser.add_argument("--concurrency", type=int, default=400, help="publishes in flight per worker")
        parser.add_argument("--workers", type=int, default=1, help="1 = in this process; more = worker processes")
        parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
        parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
        parser.add_argument("--steady", action="store_true", help="1 publication per second instead of a burst")
        parser.add_argument("--duration", type=int, default=600, help="seconds of steady load (--steady)")
        parser.add_argument("--publications", type=int, default=5_000, help="calendar: publications in the month")
        parser.add_argument("--requests", type=int, default=None, help="timed requests (calendar 50, insights 30)")
        parser.add_argument("--days", type=int, default=3 * 365, help="insights: days of daily measures")
        parser.add_argument("--snapshots", type=int, default=500_000, help="insights: post readings")
        parser.add_argument("--events", type=int, default=300_000, help="insights: dated interactions")
        parser.add_argument("--online-days", type=int, default=90, help="insights: days of Instagram online hours")
        parser.add_argument("--seed", type=int, default=42, help="insights: seed of the generated data")
        parser.add_argument("--profile", default=None, help="insights: a computation to profile (or 'all')")
        parser.add_argument("--inner", action="store_true", help="(internal: run inside the throwaway database)")

    def handle(self, *args, **options):
        what = options["what"]
        if options["channels"] is None:
            options["channels"] = 100 if what == "insights" else 2_000
        if options["requests"] is None:
            options["requests"] = 30 if what == "insights" else 50
        if options["inner"]:
            if what == "calendar":
                return self._measure_calendar(options)
            if what == "insights":
                return self._measure_insights(options)
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

    def _measure_calendar(self, options) -> None:
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()  # lets the test client's "testserver" host in
        count = options["publications"]
        self.stderr.write(f"Loading {count} publications in one month…")
        user, slug, month_start = _load_calendar(count)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        client = Client()
        client.force_login(user)
        url = f"/o/{slug}/calendar/events"
        # What FullCalendar asks for a month view: six weeks from the Monday before the 1st, in the viewer's zone.
        grid_start = month_start - timedelta(days=month_start.weekday())
        params = {
            "start": grid_start.strftime("%Y-%m-%dT00:00:00"),
            "end": (grid_start + timedelta(days=42)).strftime("%Y-%m-%dT00:00:00"),
            "timeZone": "Europe/Paris",
        }
        response = client.get(url, params)  # warm-up (session, caches, first query plan)
        if response.status_code != 200:
            raise CommandError(f"the events endpoint answered {response.status_code}")
        events = len(response.json())
        durations = []
        for _ in range(options["requests"]):
            started = time.perf_counter()
            response = client.get(url, params)
            durations.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        durations.sort()
        result = {
            "benchmark": "calendar",
            "publications": count,
            "database": connection.vendor,
            "requests": len(durations),
            "p50_ms": _percentile(durations, 50),
            "p95_ms": _percentile(durations, 95),
            "max_ms": round(max(durations), 3),
            "events": events,
        }
        self.stdout.write(json.dumps(result))

    def _measure_insights(self, options) -> None:
        from beffroi.insights.bench import Sizes, run

        sizes = Sizes(
            channels=options["channels"],
            days=options["days"],
            snapshots=options["snapshots"],
            events=options["events"],
            online_days=options["online_days"],
            requests=options["requests"],
            seed=options["seed"],
        )
        result = run(sizes, log=self.stderr.write, profile=options["profile"])
        self.stdout.write(json.dumps(result))


def _load_calendar(count: int, channel_count: int = 36):
    """An organisation with `channel_count` channels over a few networks and groups, and `count` publications
    spread over next month (most scheduled, some published, a few failed). Returns (user, slug, month start)."""
    import random
    import zoneinfo
    from datetime import UTC, datetime

    from beffroi.accounts.models import User
    from beffroi.channels.models import Channel
    from beffroi.networks.registry import Network
    from beffroi.organisations.models import Membership, Organisation, PageGroup
    from beffroi.organisations.roles import Role
    from beffroi.publishing.models import Post, Publication
    from beffroi.publishing.states import State

    rng = random.Random(42)  # noqa: S311 — repeatable test data, not secrets
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    organisation = Organisation.objects.create(
        name="Calendar benchmark", slug=f"bench-calendar-{os.getpid()}", time_zone="Europe/Paris"
    )
    groups = [PageGroup.objects.create(organisation=organisation, name=f"Group {n}") for n in range(4)]
    networks = [Network.FACEBOOK, Network.INSTAGRAM, Network.MASTODON, Network.BLUESKY, Network.LINKEDIN]
    channels = Channel.objects.bulk_create(
        [
            Channel(
                organisation=organisation,
                group=groups[n % len(groups)],
                network=networks[n % len(networks)],
                display_name=f"Channel {n}",
                remote_id=f"c{n}",
            )
            for n in range(channel_count)
        ]
    )
    user = User.objects.create_user("bench-calendar@example.org", "bench-calendar-password", full_name="Bench")
    Membership.objects.create(organisation=organisation, user=user, role=Role.ADMIN)
    today = datetime.now(UTC)
    month_start = (today.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_seconds = 28 * 24 * 3600
    posts = Post.objects.bulk_create(
        [
            Post(organisation=organisation, text=f"Benchmark post {n}: " + "lorem ipsum dolor sit amet " * 8)
            for n in range(count)
        ],
        batch_size=1000,
    )
    rows = []
    for n, post in enumerate(posts):
        due = month_start + timedelta(seconds=rng.randrange(month_seconds))
        state = rng.choices([State.SCHEDULED, State.PUBLISHED, State.FAILED], weights=[85, 12, 3])[0]
        published = state == State.PUBLISHED
        rows.append(
            Publication(
                post=post,
                channel=channels[n % channel_count],
                state=state,
                due_at=due,
                run_at=due,
                scheduled_local=due.astimezone(paris).replace(tzinfo=None).isoformat(timespec="minutes"),
                scheduled_tz="Europe/Paris",
                published_at=due if published else None,
                remote_url=f"https://example.org/posts/{n}" if published else "",
            )
        )
    Publication.objects.bulk_create(rows, batch_size=1000)
    return user, organisation.slug, month_start


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
                "--no-insights",
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
