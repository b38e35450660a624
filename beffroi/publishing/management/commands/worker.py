from __future__ import annotations

from django.core.management.base import BaseCommand

from beffroi.core.background import TaskRunnerThread
from beffroi.insights.worker import InsightsThread
from beffroi.publishing.worker.dispatcher import Dispatcher, run_forever


class Command(BaseCommand):
    help = "Run a publishing worker. Start as many as needed, on any hosts sharing the PostgreSQL database."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=200, help="publishes in flight at once (200)")
        parser.add_argument("--lease", type=float, default=90.0, help="seconds a claim holds without heartbeat")
        parser.add_argument("--poll", type=float, default=0.25, help="seconds between looks for due posts")
        parser.add_argument("--no-tasks", action="store_true", help="do not also run background tasks")
        parser.add_argument("--no-insights", action="store_true", help="do not also collect statistics")
        parser.add_argument(
            "--no-rate-limits",
            action="store_true",
            help="benchmarks only: ignore per-channel and per-instance budgets (a simulator stands for many)",
        )

    def handle(
        self,
        *args,
        concurrency: int,
        lease: float,
        poll: float,
        no_tasks: bool,
        no_insights: bool,
        no_rate_limits: bool,
        **options,
    ):
        limits = {"channel_rate": None, "network_budgets": False} if no_rate_limits else {}
        dispatcher = Dispatcher(concurrency=concurrency, lease_s=lease, poll_s=poll, **limits)
        tasks = None if no_tasks else TaskRunnerThread()
        insights = None if no_insights else InsightsThread()
        for thread in (tasks, insights):
            if thread:
                thread.start()
        self.stdout.write(f"Publishing worker {dispatcher.worker_id} started (Ctrl+C to stop).")
        try:
            run_forever(dispatcher)
        finally:
            for thread in (insights, tasks):
                if thread:
                    thread.stop()
