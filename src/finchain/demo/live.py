"""The console and the chain follower on their own thread and event loop.

The replay is CPU-heavy Python (signing, device readings, Merkle trees) on the main loop; with the
console on the same loop a page could wait seconds for an answer. On a second thread the
interpreter switches between the two every few milliseconds, so the console stays responsive
while the replay runs. The follower runs on the console's loop, so the state it mutates and the
pages that read it share one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

from finchain.demo.follower import ChainFollower
from finchain.demo.state import DemoState
from finchain.errors import FinchainError


class ConsoleError(FinchainError):
    """The console could not start."""


class LiveSide:
    """Runs uvicorn (the console) and a :class:`ChainFollower` in a background thread."""

    def __init__(self, state: DemoState, *, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.follower: ChainFollower | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._server: Any = None
        self._thread = threading.Thread(target=self._main, name="finchain-console", daemon=True)

    def start(self, timeout: float = 60.0) -> None:
        from finchain.chain.network import port_in_use

        # say "in use" in one line, before uvicorn logs its own failure at length
        if port_in_use(self.host, self.port):
            raise ConsoleError(
                f"console port {self.host}:{self.port} is not available; pick another with --port"
            )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ConsoleError("console did not start in time")
        if self._error is not None:
            raise ConsoleError(f"console could not start on {self.host}:{self.port}: {self._error}")

    def follow(self) -> None:
        """Start following the chain (once the network is up)."""
        assert self.loop is not None
        self.follower = ChainFollower(self.state, self.state.rpc_url)
        fut = asyncio.run_coroutine_threadsafe(self._start_follow(), self.loop)
        fut.result(10)

    async def _start_follow(self) -> None:
        assert self.follower is not None and self._stop is not None
        self._follow_task = asyncio.create_task(self.follower.run(self._stop))

    def catch_up(self, timeout: float = 600.0) -> int:
        """Apply every block up to the head now (on the console's loop); blocks applied."""
        from finchain.chain.sdk import Client

        assert self.loop is not None and self.follower is not None
        follower = self.follower

        async def go() -> int:
            async with Client(self.state.rpc_url) as c:
                return await follower.catch_up(c)

        fut: Future[int] = asyncio.run_coroutine_threadsafe(go(), self.loop)
        return fut.result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():  # never started when the port was taken
            self._thread.join(15)

    # -- the thread ----------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        import uvicorn

        from finchain.console.server import create_app

        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.state.hub.bind(self.loop)
        config = uvicorn.Config(
            create_app(self.state),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                exc = task.exception()
                self._error = exc or ConsoleError("server exited")
                self._ready.set()
                return
            await asyncio.sleep(0.05)
        self._ready.set()
        await self._stop.wait()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        follow = getattr(self, "_follow_task", None)
        if follow is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(follow, 5)
