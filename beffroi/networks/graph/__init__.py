"""A small client for Meta's Graph API (Facebook Pages, Instagram professional accounts), shared by both
connectors: hosts and version, error classification, request summaries without secrets."""

from beffroi.networks.graph.client import (
    FACEBOOK_HOST,
    INSTAGRAM_HOST,
    AsyncGraph,
    GraphError,
    SyncGraph,
    api_version,
    classify,
    parse_time,
    usage_retry_after,
)

__all__ = [
    "FACEBOOK_HOST",
    "INSTAGRAM_HOST",
    "AsyncGraph",
    "GraphError",
    "SyncGraph",
    "api_version",
    "classify",
    "parse_time",
    "usage_retry_after",
]
