from __future__ import annotations

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Beffroi (ASGI, uvicorn) on one process: web pages, API and static files."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options):
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Beffroi: http://{host}:{port}/  (Ctrl+C to stop)"))
        uvicorn.run("beffroi.asgi:application", host=host, port=port, log_config=None, lifespan="off")
