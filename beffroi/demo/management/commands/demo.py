from __future__ import annotations

from django.core.management.base import BaseCommand

from beffroi.demo.data import DEMO_PASSWORD, PEOPLE, load_demo
from beffroi.insights.demo import load_demo_statistics
from beffroi.organisations.models import Organisation


class Command(BaseCommand):
    help = "Create (or complete) the demo organisations and one demo person per role. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--first-run",
            action="store_true",
            help="Load the demo only when the database has no organisation yet (used by `make run`).",
        )

    def handle(self, *args, first_run: bool = False, **options):
        if first_run and Organisation.objects.filter(is_demo=False).exists():
            self.stdout.write("Organisations exist already: demo not loaded.")
            return
        if not (first_run and Organisation.objects.filter(is_demo=True).exists()):
            load_demo()
        # Two years of statistics for the demo channels (idempotent: a demo loaded before they existed is completed).
        stored = load_demo_statistics()
        if stored:
            self.stdout.write(
                f"Demo statistics: {stored.get('daily', 0)} daily values, {stored.get('posts', 0)} posts."
            )
        self.stdout.write(self.style.SUCCESS("Demo ready — organisations marked “Démo”."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for person in PEOPLE:
            self.stdout.write(f"  {person.role.label:<12} {person.email}")
