"""Reaching the Hugging Face Hub, or learning quickly that it cannot be reached.

Without a network, huggingface_hub retries each request for about a minute before failing.
`hub_unreachable` answers in about a second (HF_HUB_OFFLINE, else one TCP connection to the
Hub's host), and `work_offline` then makes huggingface_hub, transformers and datasets read
their local caches only, so a model or data set downloaded before still loads.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import lru_cache
from urllib.parse import urlparse

import huggingface_hub.constants

# Seconds to wait for a TCP connection to the Hub (name lookup included) before calling it unreachable.
CONNECT_TIMEOUT = 1.0
_TRUE = {"1", "on", "yes", "true"}


def _connects(host: str, port: int) -> bool:
    reached = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
            reached.append(True)
        except OSError:
            pass

    # In a thread: a name lookup without a network can block for far longer than the timeout.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT + 0.5)
    return bool(reached)


@lru_cache(maxsize=1)
def hub_unreachable() -> str | None:
    """Why the Hub cannot be used now ('HF_HUB_OFFLINE is set', 'no connection to <host>'),
    or None when it can; asked once per process."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return f"{name} is set"
    endpoint = urlparse(huggingface_hub.constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    if not _connects(host, port):
        return f"no connection to {host}:{port} within {CONNECT_TIMEOUT:.0f} s"
    return None


def work_offline() -> None:
    """Make huggingface_hub (and transformers through it) use the local cache only: no
    requests, so no minute of retries."""
    huggingface_hub.constants.HF_HUB_OFFLINE = True
