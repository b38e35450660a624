"""`beffroi send_reports`: e-mails the weekly (Mondays) and monthly (the 1st) statistics reports that are due.

Run it once a day (cron, a systemd timer); running it more often, or again after a failure, sends nothing twice.
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from beffroi.insights.reports import send_due_reports


class Command(BaseCommand):
    help = "E-mail the statistics reports that are due (weekly on Mondays, monthly on the 1st). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="on", help="act as if today were this day (YYYY-MM-DD), e.g. to catch up")

    def handle(self, *args, on: str | None = None, **options):
        today = None
        if on:
            try:
                today = date.fromisoformat(on)
            except ValueError as error:
                raise CommandError(f"--date must be YYYY-MM-DD, not {on!r}") from error
        sent = send_due_reports(today)
        self.stdout.write(f"{sent} report(s) sent.")
