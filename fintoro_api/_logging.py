"""The ``fintoro_api`` logger; ``FINTORO_LOG=debug`` (or ``info``) turns it on without code."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("fintoro_api")
_configured = False


def setup_from_env() -> None:
    """Honour FINTORO_LOG once per process: add a stderr handler at the requested level."""
    global _configured
    if _configured:
        return
    _configured = True
    level = os.environ.get("FINTORO_LOG", "").strip().upper()
    if level in ("DEBUG", "INFO"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
