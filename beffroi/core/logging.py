"""Structured logging: JSON lines, and a filter that keeps secrets out of every log record."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

# Values that look like credentials: bearer tokens, key=value secrets, Fernet tokens.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|token|password|secret|api_key|app_password|client_secret)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
    re.compile(r"gAAAAA[A-Za-z0-9_-]{20,}={0,2}"),
    # OAuth authorisation codes and PKCE verifiers in query strings (httpx logs request URLs).
    re.compile(r"((?<=[?&])(?:code|code_verifier|fb_exchange_token|client_secret)=)[^&\s\"']+"),
]
REDACTED = "[redacted]"


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        replacement = (lambda m: m.group(1) + REDACTED) if pattern.groups else REDACTED
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)
