"""Event streams as a browser receives them, and an in-process server whose engine tests can inspect.

``RawStream`` speaks HTTP/1.1 over a plain socket and parses server-sent events with deadlines, so a
test can hold many streams open in one thread, read them on its own schedule, or never read at all
(the slow client). ``ThreadedServer`` runs the app under uvicorn in a thread: real sockets, while the
test still reaches the broker, the engine and the database of the very process that serves them.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from conftest import base_env, free_port
from starlette.applications import Starlette

from decidero.app import create_app
from decidero.meetings.broker import InProcessBroker
from decidero.meetings.live import LiveEngine
from decidero.platform.db import Database

T = TypeVar("T")


@dataclass(frozen=True)
class Sse:
    event: str
    data: str
    id: str | None
    retry: int | None = None
    at: float = 0.0  # time.monotonic() when it was read


class StreamClosed(Exception):
    """The server ended the stream."""


@dataclass
class RawStream:
    """One ``GET …/events`` connection. ``events`` keeps everything received so far, in order."""

    host: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    receive_buffer: int | None = None
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    events: list[Sse] = field(default_factory=list)
    first_frame: bytes = b""
    closed: bool = False
    _sock: socket.socket | None = None
    _raw: bytes = b""
    _body: bytes = b""
    _chunked: bool = False
    _chunk_left: int = 0
    _text: str = ""

    def open(self, timeout: float = 5.0) -> RawStream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        sock.settimeout(timeout)
        sock.connect((self.host, self.port))
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._sock = sock
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._raw:
            self._recv(deadline)
        head, _, rest = self._raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        self._chunked = self.response_headers.get("transfer-encoding", "").lower() == "chunked"
        self._raw = b""
        self._feed(rest)
        return self

    def body(self, timeout: float = 5.0) -> str:
        """The whole body of a short (refused) response."""
        deadline = time.monotonic() + timeout
        length = int(self.response_headers.get("content-length", "-1"))
        while not self.closed and (length < 0 or len(self._body) < length):
            try:
                self._recv(deadline)
            except StreamClosed:
                break
        return self._body.decode()

    def _recv(self, deadline: float) -> None:
        assert self._sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise
        except OSError as exc:
            self.closed = True
            raise StreamClosed(str(exc)) from exc
        if not data:
            self.closed = True
            raise StreamClosed("end of stream")
        if self.status:
            self._feed(data)
        else:
            self._raw += data

    def _feed(self, data: bytes) -> None:
        if not self._chunked:
            self._take(data)
            return
        self._raw += data
        while True:
            if self._chunk_left > 0:  # inside a chunk's data
                if not self._raw:
                    return
                piece = self._raw[: self._chunk_left]
                self._raw = self._raw[len(piece) :]
                self._chunk_left -= len(piece)
                self._take(piece)
                if self._chunk_left == 0:
                    self._chunk_left = -1
            elif self._chunk_left < 0:  # the CRLF after a chunk's data
                if len(self._raw) < 2:
                    return
                self._raw = self._raw[2:]
                self._chunk_left = 0
            else:  # a chunk-size line
                line, sep, rest = self._raw.partition(b"\r\n")
                if not sep:
                    return
                self._raw = rest
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    self.closed = True
                    return
                self._chunk_left = size

    def _take(self, payload: bytes) -> None:
        self._body += payload
        if not self.first_frame and b"\r\n\r\n" in self._body:
            self.first_frame = self._body.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        self._text += payload.decode("utf-8", "replace")
        self._text = self._text.replace("\r\n", "\n")
        while "\n\n" in self._text:
            frame, self._text = self._text.split("\n\n", 1)
            self._parse(frame)

    def _parse(self, frame: str) -> None:
        fields: dict[str, list[str]] = {}
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        if not fields:
            return
        retry = fields.get("retry", [None])[0]
        self.events.append(
            Sse(
                event=fields.get("event", ["message"])[0],
                data="\n".join(fields.get("data", [])),
                id=fields.get("id", [None])[0],
                retry=int(retry) if retry else None,
                at=time.monotonic(),
            )
        )

    def wait_for(self, predicate: Callable[[Sse], bool], timeout: float = 5.0, start: int = 0) -> Sse:
        """The first event from index ``start`` matching ``predicate``, reading until the deadline."""
        deadline = time.monotonic() + timeout
        checked = start
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = max(checked, len(self.events))
            try:
                self._recv(deadline)
            except TimeoutError:
                kinds = [e.event for e in self.events]
                raise AssertionError(f"no matching event within {timeout}s; received {kinds}") from None

    def wait_event(self, kind: str, timeout: float = 5.0, start: int = 0) -> Sse:
        return self.wait_for(lambda e: e.event == kind, timeout, start)

    def read_for(self, seconds: float) -> None:
        """Read whatever arrives for ``seconds`` (to show that something does *not* arrive)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._recv(deadline)
        except (TimeoutError, StreamClosed):
            return

    def wait_closed(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            try:
                self._recv(deadline)
            except StreamClosed:
                return
            except TimeoutError:
                raise AssertionError(f"stream still open after {timeout}s") from None

    def fileno(self) -> int:
        assert self._sock is not None
        return self._sock.fileno()

    def pump(self) -> None:
        """Take in whatever is ready without waiting (after select said so)."""
        try:
            self._recv(time.monotonic() + 0.001)
        except (TimeoutError, StreamClosed):
            return

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def read_all(streams: list[RawStream], done: Callable[[], bool], timeout: float) -> None:
    """Read several streams as their data arrives until ``done()`` or the deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"streams did not finish within {timeout}s")
        ready, _, _ = select.select([s for s in streams if not s.closed], [], [], min(remaining, 0.1))
        for stream in ready:
            stream.pump()


def open_stream(url: str, path: str, cookie: str | None = None, **kwargs: Any) -> RawStream:
    host, _, port = url.removeprefix("http://").partition(":")
    headers = dict(kwargs.pop("headers", {}))
    if cookie is not None:
        headers["Cookie"] = f"decidero_session={cookie}"
    return RawStream(host, int(port), path, headers, **kwargs).open()


class _Server(uvicorn.Server):
    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)


def serve_in_thread(app: Any, port: int, send_buffer: int | None = None) -> tuple[_Server, threading.Thread]:
    """Serve an ASGI app with uvicorn on a loopback port from a daemon thread; returns once it listens.
    ``send_buffer`` sets SO_SNDBUF of every accepted connection (inherited from the listener)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = _Server(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", port))
    thread = threading.Thread(target=server.run, args=([listener],), name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return server, thread


@dataclass
class ThreadedServer:
    """The app served by uvicorn on a loopback port from a thread of the test process."""

    directory: Path
    port: int = field(default_factory=free_port)
    send_buffer: int | None = None  # SO_SNDBUF of every accepted connection (inherited from the listener)
    database_url: str | None = None  # default: SQLite in ``directory``
    app: Starlette | None = None
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Database:
        assert self.app is not None
        db: Database = self.app.state.services.db
        return db

    @property
    def engine(self) -> LiveEngine:
        assert self.app is not None
        engine: LiveEngine = self.app.state.services.extras["live"]
        return engine

    @property
    def broker(self) -> InProcessBroker:
        return self.engine.broker

    def start(self) -> ThreadedServer:
        extra = {"DECIDERO_DATABASE_URL": self.database_url} if self.database_url else {}
        self.app = create_app(base_env(self.directory, **extra), cwd=self.directory)
        self._server, self._thread = serve_in_thread(self.app, self.port, self.send_buffer)
        return self

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coroutine`` on the server's event loop (where the broker's queues live)."""
        assert self._server is not None and self._server.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._server.loop).result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.call(wrapper())

    def subscription_count(self, meeting_id: str) -> int:
        return self.run(lambda: len(self.broker.subscriptions(meeting_id)))

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        if self._thread.is_alive():
            self.run(self.broker.close_all)
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = None
