"""Whether the calling thread runs an asyncio event loop (an async flow's body)."""

from __future__ import annotations

import sys


def loop_running() -> bool:
    """True inside a running event loop; asyncio is not imported just to find out."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio.events._get_running_loop() is not None
