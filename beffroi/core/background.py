"""Running Django's database task queue (django-tasks-db) in a thread beside the web server or a worker."""

from __future__ import annotations

import os
import socket
import threading
import uuid


class TaskRunnerThread(threading.Thread):
    def __init__(self, interval_s: float = 1.0) -> None:
        super().__init__(name="beffroi-tasks", daemon=True)
        from django_tasks_db.management.commands.db_worker import Worker

        self.worker = Worker(
            queue_names=["default"],
            interval=interval_s,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=f"tasks:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64],
            excluded_queue_names=[],
        )

    def run(self) -> None:
        self.worker.run()

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.running = False
        self.join(timeout)
