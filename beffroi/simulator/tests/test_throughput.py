"""The simulator's own throughput, in the shape of the publishing benchmark: 10,000 posts over 2,000 accounts,
400 keep-alive connections, 100 ms of simulated latency, the simulator in a process of its own.

A benchmark, so skipped unless asked for: BEFFROI_SIM_BENCH=1 pytest beffroi/simulator -k throughput -s
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from beffroi.simulator import SimulatorProcess
from beffroi.simulator.tests.rawhttp import post_statuses

pytestmark = pytest.mark.skipif(not os.environ.get("BEFFROI_SIM_BENCH"), reason="benchmark: BEFFROI_SIM_BENCH=1")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
@pytest.mark.parametrize("connections", [200, 400])
def test_throughput_with_100_ms_latency(connections, use_uvloop):
    if use_uvloop:
        pytest.importorskip("uvloop")
    posts, accounts, latency_ms = 10_000, 2_000, 100.0
    with SimulatorProcess(latency_ms=latency_ms, use_uvloop=use_uvloop) as simulator:
        pid = simulator.process.pid
        cpu_before = _cpu_seconds(pid)
        result = asyncio.run(post_statuses(simulator.url, posts, connections, accounts))
        cpu_s = _cpu_seconds(pid) - cpu_before
        stats = simulator.stats()
    ceiling = connections / (latency_ms / 1000)  # what the latency allows at this concurrency
    report = {
        "loop": "uvloop" if use_uvloop else "asyncio",
        "connections": connections,
        "latency_ms": latency_ms,
        "posts": posts,
        "requests_per_s": round(result.per_second),
        "ceiling_per_s": round(ceiling),
        "p50_ms": round(result.percentile(50) * 1000, 1),
        "p99_ms": round(result.percentile(99) * 1000, 1),
        "max_ms": round(max(result.latencies_s) * 1000, 1),
        "server_cpu_s": round(cpu_s, 2),
        "server_requests_per_cpu_s": round(posts / cpu_s) if cpu_s else None,
    }
    print(json.dumps(report))
    assert result.statuses == {200: posts}
    assert stats["posts"] == posts and stats["duplicates"] == 0
    # Keep-alive: no connection was opened twice (one more: the control API's, for stats()).
    assert stats["connections"]["total"] == connections + 1
    assert result.per_second >= min(2_000, 0.8 * ceiling)
    assert posts / cpu_s >= 2_000  # the simulator's own capacity, whatever the client manages
