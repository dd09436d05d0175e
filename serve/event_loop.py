"""One event loop on a thread of its own: the server's gRPC, REST and metrics front ends share it.

uvloop: libuv's loop answers each wake-up with less Python than asyncio's own (side by side, one
client's p50 and 32 clients' qps; docs/performance.md), and grpc.aio and aiohttp run on any loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import uvloop


class EventLoopThread:
    """Starts at construction; `run` hands it a coroutine from any thread; `stop` ends it."""

    def __init__(self, name: str = "liveri-loop") -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine) -> Any:
        """Run `coroutine` on the loop and wait for its result. From the loop's own thread
        (a callback of its servers), it is scheduled instead and its task returned."""
        if self.loop.is_closed():  # stopped: nothing left to tell
            coroutine.close()
            return None
        if threading.current_thread() is self._thread:
            return self.loop.create_task(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        """Cancel what still runs (say, a connection's task), then end the loop."""
        if self.loop.is_closed():
            return
        self.run(_cancel_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _cancel_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
