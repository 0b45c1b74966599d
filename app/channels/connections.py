"""Connections the transports keep open on an event loop, closed in one place."""

from __future__ import annotations

import sys


async def close_async_clients() -> None:
    """Close the connections the transports opened on the running event loop."""
    twilio = sys.modules.get("app.channels.twilio")  # only if it was ever used
    if twilio is not None:
        await twilio.close_async_clients()
