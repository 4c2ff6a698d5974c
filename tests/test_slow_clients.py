"""Slow and hostile clients against the real server (`qa-service serve`, 2 workers, on 127.0.0.1).

Issue 15: 8 sockets that send one header line every 3 s held all 2 x 4 gunicorn threads and the
service stopped answering.  The server now reads whole requests without a thread
(qa_service/web/server.py).  Every loop here is bounded in count and time; traffic stays on loopback.
"""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import SAMPLE_QUESTIONS, running_server

SLOW_CLIENTS = 200
SLOW_SECONDS = 30.0
LINE_EVERY = 3.0  # seconds between two header lines of a slow client
P95_BOUND = 1.0  # seconds; also in README "Operating"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("slow") / "index") as base:
        yield base


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def ask(base, question, timeout=10.0):
    body = json.dumps({"question": question}, ensure_ascii=False).encode()
    req = urllib.request.Request(base + "/api/ask", data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        assert r.status == 200 and "answer" in json.load(r)
    return time.perf_counter() - t0


def raw(base, data: bytes, timeout=10.0) -> tuple[int, dict, bytes]:
    """Send ``data`` as is; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port_of(base)), timeout=timeout) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


class Dribblers:
    """``n`` connections that send a request line, then one header line every ``LINE_EVERY`` seconds and
    never the blank line that ends the headers; one the server closes is opened again."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        self.socks: list[socket.socket] = []
        self.reopened = 0

    def _open(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        return s

    def run(self, seconds: float) -> None:
        self.socks = [self._open() for _ in range(self.n)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(LINE_EVERY, max(0.0, end - time.monotonic())))
            for i, s in enumerate(self.socks):
                try:
                    if s.recv(4096) == b"":  # the server gave up on it (408): open another
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    self.socks[i] = self._open()
                    self.reopened += 1
                    continue
                try:
                    s.send(b"X-Dribble: 1\r\n")
                except OSError:
                    s.close()
                    self.socks[i] = self._open()
                    self.reopened += 1

    def close(self) -> None:
        for s in self.socks:
            s.close()


@pytest.mark.slow
def test_200_slow_clients_do_not_starve_normal_ones(server):
    dribblers = Dribblers(port_of(server), SLOW_CLIENTS)
    slow = threading.Thread(target=dribblers.run, args=(SLOW_SECONDS,))
    slow.start()
    latencies, failures = [], []
    try:
        time.sleep(1.0)  # all 200 connected and dribbling
        end = time.monotonic() + SLOW_SECONDS - 2
        i = 0
        while time.monotonic() < end and i < 2000:
            try:
                latencies.append(ask(server, SAMPLE_QUESTIONS[i % len(SAMPLE_QUESTIONS)]))
            except (OSError, AssertionError) as exc:
                failures.append(repr(exc))
            i += 1
            time.sleep(0.05)
    finally:
        slow.join(SLOW_SECONDS + 30)
        dribblers.close()
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    p50 = latencies[len(latencies) // 2]
    print(
        f"\n{len(latencies)} questions answered beside {SLOW_CLIENTS} slow clients (reopened "
        f"{dribblers.reopened}): p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
    )
    assert not failures, failures[:5]
    assert len(latencies) >= 100 and p95 <= P95_BOUND


def test_a_slow_clients_headers_time_out_with_a_json_408(tmp_path):
    with running_server(tmp_path / "index", env={"QA_HEADER_TIMEOUT": "1"}, workers=1) as base:
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 5
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"
        assert ask(base, SAMPLE_QUESTIONS[0]) < 5  # and the server is fine


def test_a_body_larger_than_any_the_app_takes_is_refused_before_it_is_read(server):
    head = b"POST /api/documents HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 99999999\r\n\r\n"
    status, headers, body = raw(server, head)
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_an_over_long_url_gets_the_json_error_shape(server):
    status, headers, body = raw(server, b"GET /api/documents/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "uri_too_long"
    status, _, body = raw(server, b"GET /" + b"x" * 70000)  # no line end at all
    assert status == 414 and json.loads(body)["error"]["code"] == "uri_too_long"


@pytest.mark.parametrize("request_bytes", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"])
def test_requests_gunicorn_cannot_parse_get_the_json_error_shape(server, request_bytes):
    status, headers, body = raw(server, request_bytes)
    assert 400 <= status < 600 and headers["Content-Type"] == "application/json", body
    assert json.loads(body)["error"]["code"]


def test_double_slashes_over_http_answer_json_not_an_html_redirect(server):
    status, headers, body = raw(server, b"GET //healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and headers["Content-Type"] == "application/json" and json.loads(body)["status"] == "ok"
    status, headers, body = raw(server, b"GET //nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_chunked_and_expect_100_continue_bodies_are_read_whole(server):
    body = json.dumps({"question": SAMPLE_QUESTIONS[0]}, ensure_ascii=False).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7))
    status, _, reply = raw(
        server,
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked + b"0\r\n\r\n",
    )
    assert status == 200 and json.loads(reply)["passages"]
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as s:
        s.sendall(
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"100 Continue") == 0
