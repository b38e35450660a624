"""The network simulator: test and benchmark tooling, not product code (it never imports Django).

A local HTTP server speaking the subset of each network's API that Beffroi's connectors use — Mastodon for now —
with configurable latency, errors, rate limits, and timeouts *after* a post is stored, and a record of every
post received, so tests and benchmarks can count duplicates and losses.

    with SimulatorServer(latency_ms=50) as simulator:      # in a thread of this process
        ...  # point a connector at simulator.url
        assert simulator.stats()["duplicates"] == 0

    with SimulatorProcess(latency_ms=100) as simulator:    # in a process of its own (benchmarks)
        ...

    python -m beffroi.simulator --port 9999 --latency-ms 100   # by hand
"""

from beffroi.simulator.server import Knobs, Simulator, SimulatorProcess, SimulatorServer

__all__ = ["Knobs", "Simulator", "SimulatorProcess", "SimulatorServer"]
