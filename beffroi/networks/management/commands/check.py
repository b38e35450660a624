"""`beffroi check --network NETWORK [--limit N] [--media FILE …]`: checks a post read from standard input against
a network's rules and prints one JSON object. Exit status: 0 ok, 1 not ok, 2 bad usage.

Without --network it is Django's own `check` (system checks), which it extends.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import CommandError
from django.core.management.commands.check import Command as SystemCheckCommand
from django.utils import translation

from beffroi.media.inspect import MediaError, inspect_file
from beffroi.networks.registry import SUPPORTED, capabilities_for
from beffroi.networks.validation import MediaInput, Problem, check_post


class Command(SystemCheckCommand):
    stealth_options = ("stdin",)
    help = (
        "With --network: checks a post (text on standard input) against a network's rules and prints one JSON "
        "object (exit 0 when it can be published, 1 when not, 2 for bad usage). Without: Django's system checks."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        networks = [str(n) for n in SUPPORTED]
        parser.add_argument("--network", choices=networks, help="the network to check the post against")
        parser.add_argument("--limit", type=int, help="the channel's own text limit (a Mastodon instance's)")
        parser.add_argument("--media", nargs="+", action="extend", default=[], metavar="FILE", help="attached files")
        parser.add_argument("--alt", action="append", default=[], metavar="TEXT", help="alt text, one per file")
        parser.add_argument("--content-warning", default="", help="a content warning (Mastodon)")
        parser.add_argument("--language", choices=["fr", "en"], default="fr", help="language of the messages")

    def handle(self, *app_labels, **options):
        if not options.get("network"):
            if options.get("media") or options.get("limit"):
                raise CommandError("--media and --limit need --network", returncode=2)
            return super().handle(*app_labels, **options)
        if options["limit"] is not None and options["limit"] <= 0:
            raise CommandError("--limit must be a positive number", returncode=2)
        capabilities = capabilities_for(options["network"])
        with translation.override(options["language"]):
            media, unreadable = [], []
            alts = options["alt"]
            for number, name in enumerate(options["media"]):
                path = Path(name)
                if not path.is_file():
                    raise CommandError(f"no such file: {name}", returncode=2)
                try:
                    info = inspect_file(path)
                except MediaError as error:
                    unreadable.append(Problem("media_unreadable", f"{path.name}: {translation.gettext(str(error))}"))
                    continue
                alt = alts[number] if number < len(alts) else ""
                media.append(MediaInput(info, alt_text=alt, name=path.name))
            stdin = options.get("stdin") or sys.stdin
            text = stdin.read()
            result = check_post(
                capabilities,
                text,
                media=media,
                limit=options["limit"],
                content_warning=options["content_warning"],
            )
            result.errors[:0] = unreadable
        self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
        if not result.ok:
            sys.exit(1)
