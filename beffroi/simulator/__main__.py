"""`python -m beffroi.simulator --port 9999 --latency-ms 100 …`: prints its URL (alone, on the first line of
standard output) and serves until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from typing import Any

from beffroi.simulator.server import HttpConnection, Simulator, close_listening, new_event_loop, start_listening


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m beffroi.simulator",
        description="Beffroi's network simulator: a local Mastodon API for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999, help="0 for any free port (default 9999)")
    parser.add_argument("--latency-ms", type=float, help="delay before every API answer (default 0)")
    parser.add_argument("--jitter-ms", type=float, help="the latency varies within ± this (default 0)")
    parser.add_argument("--error-rate", type=float, help="fraction of posts answered 503, nothing stored")
    parser.add_argument("--timeout-after-commit-rate", type=float, help="fraction stored, then answered late")
    parser.add_argument("--drop-after-commit-rate", type=float, help="fraction stored, then connection closed")
    parser.add_argument("--stall-s", type=float, help="how late a stalled answer comes (default 30)")
    parser.add_argument("--rate-limit", type=int, help="requests per window per token (default unlimited)")
    parser.add_argument("--rate-window-s", type=float, help="rate-limit window (default 300)")
    parser.add_argument("--max-characters", type=int, help="status character limit (default 500)")
    parser.add_argument("--idempotency-ttl-s", type=float, help="how long keys are remembered (default 3600)")
    parser.add_argument("--seed", type=int, help="for reproducible randomness")
    parser.add_argument("--revoked-token", action="append", dest="revoked_tokens", help="repeatable")
    parser.add_argument("--config", default="{}", help="JSON object of knobs (flags win), e.g. per-account overrides")
    parser.add_argument("--uvloop", action="store_true", help="uvloop's event loop (if installed) instead of asyncio's")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when standard input closes")
    parser.add_argument("--quiet", action="store_true", help="print nothing but the URL")
    return parser.parse_args(argv)


def knobs_from(arguments: argparse.Namespace) -> dict[str, Any]:
    knobs = json.loads(arguments.config)
    if not isinstance(knobs, dict):
        raise SystemExit("--config takes a JSON object")
    for name in (
        "latency_ms",
        "jitter_ms",
        "error_rate",
        "timeout_after_commit_rate",
        "drop_after_commit_rate",
        "stall_s",
        "rate_limit",
        "rate_window_s",
        "max_characters",
        "idempotency_ttl_s",
        "seed",
        "revoked_tokens",
    ):
        value = getattr(arguments, name)
        if value is not None:
            knobs[name] = value
    return knobs


async def serve(simulator: Simulator, arguments: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    connections: set[HttpConnection] = set()
    server = await start_listening(simulator, arguments.host, arguments.port, connections)
    print(simulator.public_url, flush=True)  # the first line: what SimulatorProcess waits for
    if not arguments.quiet:
        print(f"Serving the Mastodon API on {simulator.public_url} — Ctrl+C to stop.", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    if arguments.exit_on_stdin_eof:
        # The parent holds our standard input: when it exits, even killed, we see the end of it and stop.
        def watch() -> None:
            with contextlib.suppress(OSError, ValueError):
                while sys.stdin.buffer.read(4096):
                    pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    await stop.wait()
    await close_listening(server, connections)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    try:
        simulator = Simulator(**knobs_from(arguments))
    except (TypeError, ValueError) as error:
        raise SystemExit(f"invalid knobs: {error}") from error
    loop = new_event_loop(arguments.uvloop)
    try:
        loop.run_until_complete(serve(simulator, arguments))
    except OSError as error:  # the port is taken, most often
        raise SystemExit(f"cannot listen on {arguments.host}:{arguments.port}: {error}") from error
    finally:
        loop.close()


if __name__ == "__main__":
    main()
