"""Helpers for tests that publish through the real engine (publishing tests and each network's tests)."""

from __future__ import annotations

import asyncio

from django.db import connections

from beffroi.publishing.worker.dispatcher import Dispatcher


def run_dispatcher_until(dispatcher: Dispatcher, done, timeout: float = 30.0) -> None:
    """Runs the dispatcher until `done()` is true (checked between cycles), then stops it gracefully."""

    def checked() -> bool:
        # Runs in a pool thread: its database connection is closed each time, not left to the test database.
        try:
            return done()
        finally:
            connections.close_all()

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            if await asyncio.to_thread(checked):
                break
            if task.done():
                break
        stop.set()
        await task

    asyncio.run(main())
