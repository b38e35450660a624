from __future__ import annotations

import asyncio
import contextlib
import signal
import threading

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from beffroi.core.background import TaskRunnerThread
from beffroi.insights.worker import InsightsThread


class Command(BaseCommand):
    help = "Serve Beffroi in one process: web pages, API, static files, the publishing worker and statistics."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="neither publish, collect statistics nor run background tasks here (`beffroi worker` processes do)",
        )

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        worker = None if no_worker else WorkerThread()
        tasks = None if no_worker else TaskRunnerThread()
        insights = None if no_worker else InsightsThread()
        for thread in (worker, tasks, insights):
            if thread:
                thread.start()
        self.stdout.write(self.style.SUCCESS(f"Beffroi: http://{host}:{port}/  (Ctrl+C to stop)"))
        try:
            config = uvicorn.Config("beffroi.asgi:application", host=host, port=port, log_config=None, lifespan="off")
            GracefulServer(config).run()
        finally:
            for thread in (insights, tasks, worker):
                if thread:
                    thread.stop()


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM once it has stopped, which would kill the process before the worker
    finishes what it is sending. Here a signal only asks the server to stop; the command then stops the
    worker gracefully and returns."""

    @contextlib.contextmanager
    def capture_signals(self):
        def ask_to_stop(signum, frame):
            self.should_exit = True

        previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class WorkerThread(threading.Thread):
    """The publishing worker on its own event loop, beside the web server (one process, e.g. on SQLite)."""

    def __init__(self) -> None:
        super().__init__(name="beffroi-worker", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        from beffroi.publishing.worker.dispatcher import Dispatcher

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            self._ready.set()
            await Dispatcher(concurrency=50).run(self._stop_event)

        asyncio.run(main())

    def stop(self, timeout: float = 40.0) -> None:
        self._ready.wait(5)
        if self._loop and self._stop_event:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)
