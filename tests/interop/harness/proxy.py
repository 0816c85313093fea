"""A round-robin TCP proxy on loopback (asyncio, in a background thread) to put several Palisade instances behind
one server name. TLS passes through untouched: every instance serves the same certificate and name.

    with RoundRobinProxy(port, [("127.0.0.1", a), ("127.0.0.1", b)]) as proxy:
        ...  # proxy.connections[i] counts the connections sent to backend i
"""

from __future__ import annotations

import asyncio
import threading


class RoundRobinProxy:
    def __init__(self, port: int, backends: list[tuple[str, int]]):
        self.port = port
        self.backends = backends
        self.connections = [0] * len(backends)
        self._next = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        # Round robin over the backends; a backend that refuses the connection is skipped.
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            host, port = self.backends[index]
            try:
                backend_r, backend_w = await asyncio.open_connection(host, port)
            except OSError:
                continue
            self.connections[index] += 1
            await asyncio.gather(self._pipe(client_r, backend_w), self._pipe(backend_r, client_w))
            return
        client_w.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        self._server.close()
        loop.run_until_complete(self._server.wait_closed())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    def start(self) -> "RoundRobinProxy":
        self._thread = threading.Thread(target=self._run, name="round-robin-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> "RoundRobinProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
