"""Smoke test of the loopback test bed: two real Synapses federate a room version 12 room."""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
import time
from typing import Iterator

from harness import SYNAPSE_VERSION, MatrixError, Reserved, Testbed, request_json
from harness.client import q
from harness.http import ca_context


@contextlib.contextmanager
def third_server(reserved: Reserved, seen: list[tuple[str, str | None]]) -> Iterator[None]:
    """A stand-in for Palisade: HTTPS on 127.0.0.1:<reserved port> with the reserved cert; answers 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"errcode": "M_UNRECOGNIZED", "error": "stand-in"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(reserved.cert), str(reserved.key))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", reserved.port), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_two_synapses_federate(testbed: Testbed, step) -> None:
    t0 = time.monotonic()
    step(f"starting hs1 and hs2 (Synapse {SYNAPSE_VERSION})")
    hs1, hs2 = testbed.start_synapses("hs1", "hs2")
    step(f"hs1 {hs1.server_name} (client {hs1.client_url}) and hs2 {hs2.server_name} (client {hs2.client_url}) "
         f"healthy after {time.monotonic() - t0:.1f}s")
    # The federation listener speaks TLS with a certificate from the test CA, for the name "localhost".
    version = request_json("GET", f"{hs1.federation_url}/_matrix/federation/v1/version",
                           ssl_context=ca_context(str(testbed.ca.cert)))
    assert version["server"]["version"] == SYNAPSE_VERSION, version

    alice = hs1.register_user("alice", admin=True)
    bob = hs2.register_user("bob")
    step(f"registered {alice.user_id} and {bob.user_id}")

    room_id = alice.create_room(room_version="12", public=True, name="interop smoke")
    create = next(e for e in alice.room_state(room_id) if e["type"] == "m.room.create")
    assert create["content"].get("room_version") == "12", create
    step(f"{alice.user_id} created v12 room {room_id}")

    t = time.monotonic()
    assert bob.join(room_id, via=[hs1.server_name]) == room_id
    step(f"{bob.user_id} joined over federation in {time.monotonic() - t:.1f}s")

    deadline = time.monotonic() + 15
    while alice.membership(room_id, bob.user_id) != "join":
        assert time.monotonic() < deadline, "hs1 never saw bob's join"
        time.sleep(0.2)
    step("hs1 sees bob joined")

    t = time.monotonic()
    event_id = bob.send_message(room_id, "hello from hs2")
    seen = alice.wait_for_event(room_id, lambda e: e.get("event_id") == event_id, timeout=15)
    assert seen["sender"] == bob.user_id and seen["content"]["body"] == "hello from hs2", seen
    step(f"hs1 received bob's message {event_id} in {time.monotonic() - t:.1f}s")

    t = time.monotonic()
    event_id = alice.send_message(room_id, "hello from hs1")
    seen = bob.wait_for_event(room_id, lambda e: e.get("event_id") == event_id, timeout=15)
    assert seen["sender"] == alice.user_id, seen
    step(f"hs2 received alice's reply {event_id} in {time.monotonic() - t:.1f}s")

    # State read back on both sides.
    alice.set_state(room_id, "m.room.topic", {"topic": "interop"})
    deadline = time.monotonic() + 15
    while True:
        try:
            if bob.get_state_event(room_id, "m.room.topic").get("topic") == "interop":
                break
        except MatrixError as e:
            if e.status != 404:
                raise
        assert time.monotonic() < deadline, "hs2 never saw the topic"
        time.sleep(0.2)
    step("hs2 sees the topic set on hs1")

    # A third server (where Palisade plugs in): a loopback TLS listener with a test-CA leaf, named
    # localhost:<port>. Synapse must reach it with SNI "localhost" and an X-Matrix request addressed to it.
    third = testbed.reserve("palisade")
    seen_requests: list[tuple[str, str | None]] = []
    with third_server(third, seen_requests):
        try:
            alice.call("GET", f"/_matrix/client/v3/profile/{q('@x:' + third.server_name)}")
        except MatrixError as e:
            assert e.status == 404 and e.errcode == "M_UNRECOGNIZED", e
    assert seen_requests, "hs1 never reached the third server"
    path, auth = seen_requests[0]
    assert path.startswith("/_matrix/federation/v1/query/profile"), path
    assert auth and f'origin="{hs1.server_name}"' in auth and f'destination="{third.server_name}"' in auth, auth
    step(f"hs1 reached a third TLS server at {third.server_name} (X-Matrix origin {hs1.server_name})")

    t = time.monotonic()
    testbed.stop_all()
    for hs in (hs1, hs2):
        assert hs.proc is not None and hs.proc.poll() is not None, f"{hs.name} still running"
    step(f"hs1 and hs2 stopped in {time.monotonic() - t:.1f}s")
