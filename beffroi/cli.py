"""The `beffroi` console script: every management command, e.g. `beffroi serve`, `beffroi demo`."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beffroi.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["beffroi", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
