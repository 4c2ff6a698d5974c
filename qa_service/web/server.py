"""The gunicorn worker ``qa-service serve`` runs: gthread, but a request reaches a thread only whole.

gunicorn's ``gthread`` worker hands a connection to one of its threads as soon as the first bytes
arrive, and the thread then blocks reading the rest: 8 clients that send one header line every
3 seconds hold all 2 × 4 threads, and the service stops answering (issue 15).  This worker reads
every request -- request line, headers and body -- in the worker's event loop, without a thread,
into memory, and submits it to the thread pool only when it is complete; the parser then reads it
from memory.  A connection has ``header_timeout`` seconds for its headers and ``body_timeout`` for
its body; a body larger than the largest the app accepts is refused at once (413), and a worker
holds at most ``buffer_budget`` bytes of bodies not yet answered (503 beyond).  Everything else
(the threads, keep-alive, graceful restarts) is gunicorn's, and CPU work (jieba, BM25) keeps running
in real threads, as before.  Errors written here, and gunicorn's own (414, 400...), have the API's
JSON shape.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import multiprocessing
import re
import selectors
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import NoReturn

from gunicorn.workers.gthread import ThreadWorker

from qa_service.core.settings import Settings, from_env, use_environment
from qa_service.index import ServePlan
from qa_service.web.errors import raw_error

HEAD_END = b"\r\n\r\n"
_EXPECT = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)
MAX_HEAD_BYTES = 64 * 1024
MAX_REQUEST_LINE = 8190
M_ARENA_MAX = -8  # mallopt(3)
# Set by the first worker ready to answer, so "serving on" is logged once, when a click would work.
# Created on import in gunicorn's master (which loads the worker class before forking): shared.
_ANNOUNCED = multiprocessing.Value("b", 0)


def gunicorn_command(gunicorn: str, s: Settings, plan: ServePlan) -> list[str]:
    """The gunicorn command line ``qa-service serve`` runs (``run_gunicorn``)."""
    bind = f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"
    return [
        gunicorn,
        *("--bind", bind, "--workers", str(plan.workers)),
        # gthread, except that a request reaches a thread only once it is whole (this module): slow
        # clients cost no thread. A worker rebuilding after an upload keeps answering from its live index.
        *("--worker-class", "qa_service.web.server.BufferedThreadWorker", "--threads", "4"),
        *(["--preload"] if plan.preload else []),  # load the index once; workers share its pages
        *("--timeout", "60", "--graceful-timeout", "10", "--log-level", s.log_level.lower()),
        "--no-control-socket",  # gunicorn's admin socket would need a writable $HOME; nothing uses it
        # GET /api/documents?q=…&publisher=… takes 300 characters each, 3,600 bytes URL-encoded at
        # worst: gunicorn's largest request line (its default, 4094, would answer such a search 414).
        *("--limit-request-line", str(MAX_REQUEST_LINE)),
        # No gunicorn access log: the app logs every request with its latency.
        "qa_service.web.wsgi:app",
    ]


def run_gunicorn(argv: list[str], env: Mapping[str, str]) -> NoReturn:
    """Become gunicorn's master with the command line ``argv`` and the environment ``env``, in this
    process, as gunicorn's own script would after an exec: what ``serve`` imported stays imported,
    so the preloaded app is ready about a second sooner than in a fresh interpreter."""
    use_environment(env)
    arenas = env.get("MALLOC_ARENA_MAX", "2")
    if arenas.isdigit() and int(arenas) > 0:  # glibc ignores a value it cannot read: so does this
        limit_malloc_arenas(int(arenas))
    sys.argv = list(argv)
    from gunicorn.app.wsgiapp import run

    run()
    sys.exit(0)  # run() exits with the master; not reached


def limit_malloc_arenas(arenas: int) -> None:
    """glibc's ``MALLOC_ARENA_MAX``, which it reads only when a process starts: gthread workers would
    otherwise get a malloc arena per thread, RSS that grows with concurrency and is never used again."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc: nothing to limit
        pass


@dataclass
class _Request:
    """Bytes of one request as they arrive, and whether they make a whole request yet."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    head_end: int = -1  # index just after the blank line ending the headers
    length: int | None = None  # Content-Length
    chunked: bool = False
    scan: int = 0  # chunked: where the next chunk-size line starts
    continue_sent: bool = False

    def feed(self, chunk: bytes, limits: Settings, max_body: int) -> tuple[int, str] | None:
        """Add ``chunk``; an (HTTP status, code) to answer with at once, or None."""
        self.data += chunk
        if self.head_end < 0:
            return self._parse_head(limits, max_body)
        framing = 2 if self.chunked else 1  # chunk-size lines can add as much again
        too_large = len(self.data) - self.head_end > framing * max_body + MAX_HEAD_BYTES
        return (413, "payload_too_large") if too_large else None

    def _parse_head(self, limits: Settings, max_body: int) -> tuple[int, str] | None:
        end = self.data.find(HEAD_END)
        if end < 0:
            first = self.data.find(b"\r\n")
            if (first < 0 and len(self.data) > MAX_REQUEST_LINE + 2) or len(self.data) > MAX_HEAD_BYTES:
                return (414, "uri_too_long") if first < 0 else (431, "headers_too_large")
            return None
        self.head_end = end + len(HEAD_END)
        self.deadline = time.monotonic() + limits.body_timeout
        for line in bytes(self.data[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                self.length = int(value) if len(value) <= 18 else max_body + 1
            elif name == b"transfer-encoding" and b"chunked" in value:
                self.chunked = True
        if (self.length or 0) > max_body:
            return 413, "payload_too_large"
        return None

    def expects_continue(self) -> bool:
        return _EXPECT.search(self.data, 0, self.head_end) is not None

    def complete(self) -> bool:
        if self.head_end < 0:
            return False
        if self.chunked:
            return self._chunks_done()
        return len(self.data) - self.head_end >= (self.length or 0)

    def _chunks_done(self) -> bool:
        """Scan the chunked body from where the last scan stopped; True once the last chunk is in."""
        pos = max(self.scan, self.head_end)
        while True:
            eol = self.data.find(b"\r\n", pos)
            if eol < 0:
                self.scan = pos
                return False
            try:
                size = int(bytes(self.data[pos:eol]).split(b";")[0].strip() or b"x", 16)
            except ValueError:
                return True  # malformed: gunicorn's parser says so with a 400
            if size == 0:
                return self.data.find(b"\r\n", eol + 2) >= 0 and (
                    self.data[eol + 2 : eol + 4] == b"\r\n" or self.data.find(HEAD_END, eol) >= 0
                )
            if len(self.data) < eol + 2 + size + 2:
                self.scan = pos
                return False
            pos = eol + 2 + size + 2


class BufferedThreadWorker(ThreadWorker):
    """``gunicorn -k qa_service.web.server.BufferedThreadWorker``: see the module's docstring."""

    def init_process(self) -> None:
        self.limits = from_env()
        # The largest body the app takes: an upload (with its multipart framing) or a JSON request.
        self.max_body = max(self.limits.max_body_bytes, self.limits.max_upload_bytes + 64 * 1024)
        self.reading: dict[object, _Request] = {}
        self.whole: dict[object, bytes] = {}  # read, waiting for a thread
        self.held: dict[object, int] = {}  # bytes held per connection until it is answered
        self.held_total = 0
        super().init_process()

    def load_wsgi(self) -> None:
        """The app (and its index) is loaded and the socket listens: the worker accepts from here on."""
        super().load_wsgi()
        with _ANNOUNCED.get_lock():
            if _ANNOUNCED.value:
                return
            _ANNOUNCED.value = 1
        where = ", ".join(str(sock) for sock in self.sockets)
        self.log.info("serving on %s/ with %d workers", where, self.cfg.workers)

    # -- reading requests without a thread ------------------------------------------------------------
    def enqueue_req(self, conn) -> None:
        if conn in self.whole:
            super().enqueue_req(conn)
            return
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        req = _Request(deadline=time.monotonic() + self.limits.header_timeout)
        self.reading[conn] = req
        if leftover and self._take(conn, req, leftover):
            return
        conn.sock.setblocking(False)
        # Most clients send the request with the connection: take what is there before polling.
        if self._receive(conn):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn, sock: socket.socket) -> None:
        try:
            self._receive(conn)
        except Exception:  # never let one connection take the worker's event loop down
            self.log.exception("error reading a request from %s", conn.client)
            self._close(conn)

    def _receive(self, conn) -> bool | None:
        """Read what the socket holds: True once the connection left the reading state, False if
        it is still reading, None if there was nothing to read yet."""
        try:
            chunk = conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            chunk = b""
        if not chunk:
            self._close(conn)
            return True
        return self._take(conn, self.reading[conn], chunk)

    def _take(self, conn, req: _Request, chunk: bytes) -> bool:
        """Feed ``chunk``; True once the connection has left the reading state (answered or queued)."""
        refused = req.feed(chunk, self.limits, self.max_body)
        if refused is None and self.held_total + len(req.data) > self.limits.buffer_budget:
            refused = (503, "server_busy")
        if refused is not None:
            self._refuse(conn, *refused)
            return True
        if req.head_end >= 0 and not req.continue_sent and req.expects_continue() and not req.complete():
            req.continue_sent = True
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        if not req.complete():
            return False
        del self.reading[conn]
        self._unregister(conn)
        data = bytes(req.data)
        if req.continue_sent:  # answered here: the parser must not send another 100 Continue
            head = _EXPECT.sub(b"", data[: req.head_end], count=1)
            data = head + data[req.head_end :]
        self.whole[conn] = data
        self.held[conn] = len(data)
        self.held_total += len(data)
        self.enqueue_req(conn)
        return True

    def handle(self, conn):
        """In a thread: the parser reads the request from memory."""
        data = self.whole.pop(conn, b"")
        conn.data_ready = True
        conn.init()
        if data:
            conn.parser.unreader.unread(data)
        return super().handle(conn)

    def finish_request(self, conn, fs) -> None:
        self.held_total -= self.held.pop(conn, 0)
        super().finish_request(conn, fs)

    # -- limits and errors ----------------------------------------------------------------------------
    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, req in self.reading.items() if req.deadline < now]:
            self._refuse(conn, 408, "request_timeout")

    def _refuse(self, conn, status: int, code: str) -> None:
        self.log.warning("refused a request from %s: %d %s", conn.client[0] if conn.client else "?", status, code)
        self._send(conn, raw_error(status, code))
        self._drain(conn)
        self._close(conn)

    @staticmethod
    def _drain(conn) -> None:
        """Read and drop what the client has already sent (up to 4 MB): closing a socket with unread
        bytes makes the kernel reset the connection, and the client could lose the error before reading
        it (a 70,000-byte request line was seen to)."""
        with contextlib.suppress(OSError):  # non-blocking: nothing left to read ends it
            for _ in range(64):
                if not conn.sock.recv(65536):
                    return

    def _send(self, conn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data)  # best effort: the socket is non-blocking and the client may be gone

    def _unregister(self, conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):  # not registered: completed from read-ahead
            self.poller.unregister(conn.sock)

    def _close(self, conn) -> None:
        self.reading.pop(conn, None)
        self._unregister(conn)  # before closing: a closed socket can no longer be unregistered
        self.nr_conns -= 1
        conn.close()

    def handle_error(self, req, client, addr, exc) -> None:
        """gunicorn's own errors (a bad request line, a request line over 8190 bytes...) in the API's JSON shape."""
        capture = _Capture()
        super().handle_error(req, capture, addr, exc)
        status = capture.status()
        codes = {400: "bad_request", 414: "uri_too_long", 431: "headers_too_large", 501: "not_implemented"}
        try:
            client.setblocking(False)  # a few hundred bytes: the socket buffer takes them, or the client is gone
            client.send(raw_error(status, codes.get(status, "internal_error" if status >= 500 else "bad_request")))
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.EAGAIN):
                self.log.debug("could not send the error response: %s", e)


class _Capture:
    """Stands in for the client socket while gunicorn writes its HTML error page: only its status is kept."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        return None

    def sendall(self, data: bytes) -> None:
        self.data += data

    send = sendall

    def status(self) -> int:
        parts = self.data.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
