"""Palisade as a room member of real Synapses: it joins (at startup and on invite), keeps live room state from
their transactions, and Synapse logs no federation errors against it.

Palisade runs as a third server (``localhost:<port>``, TLS from the run's CA, loopback-only SSRF allow list,
``join_server`` = hs1). Its stored state is read with ``palisade room state`` while it runs.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Iterator

import pytest

from harness import Testbed
from harness.palisade import Palisade

STATE_DEADLINE = 5.0  # seconds a state change may take to show in Palisade's store
JOIN_DEADLINE = 30.0


def wait_for(what: str, probe: Callable[[], Any], timeout: float, pal: Palisade) -> tuple[Any, float]:
    """Polls ``probe`` until it returns something truthy; returns it and the time taken."""
    t0 = time.monotonic()
    last: Any = None
    while True:
        last = probe()
        if last:
            return last, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"{what}: not seen within {timeout:.0f}s; last value {last!r}\n{pal.log_tail()}")
        time.sleep(0.1)


def federation_complaints(testbed: Testbed, server_name: str) -> list[str]:
    """Synapse log lines at WARNING or ERROR that mention ``server_name``."""
    pattern = re.compile(r" - (WARNING|ERROR|CRITICAL) - ")
    lines = []
    for hs in testbed.synapses.values():
        try:
            text = hs.log_file.read_text(errors="replace")
        except FileNotFoundError:
            continue
        lines += [
            f"{hs.name}: {line}"
            for line in text.splitlines()
            if server_name in line and pattern.search(line) and not is_backfill_refusal(line)
        ]
    return lines


def is_backfill_refusal(line: str) -> bool:
    """Synapse may ask any member server for a room's history, the policy server included; Palisade keeps no
    history and answers 404, which Synapse logs at WARNING before asking another server."""
    return ("/_matrix/federation/v1/backfill/" in line and "404" in line) or "Backfill denied from" in line


@pytest.fixture
def bed(testbed: Testbed, step) -> Iterator[tuple[Testbed, Any, Any]]:
    t0 = time.monotonic()
    hs1, hs2 = testbed.start_synapses("hs1", "hs2")
    step(f"hs1 {hs1.server_name} and hs2 {hs2.server_name} healthy after {time.monotonic() - t0:.1f}s")
    yield testbed, hs1, hs2


@pytest.fixture
def palisade_factory(bed, step) -> Iterator[Callable[..., Palisade]]:
    started: list[Palisade] = []
    testbed, hs1, _ = bed

    def start(**kwargs: Any) -> Palisade:
        pal = Palisade(testbed, join_server=hs1.server_name, **kwargs)
        started.append(pal)
        t0 = time.monotonic()
        pal.start()
        step(f"palisade {pal.server_name} serving after {time.monotonic() - t0:.1f}s (log {pal.log_file})")
        return pal

    ok = False
    try:
        yield start
        ok = True
    finally:
        for pal in started:
            pal.stop()
            if not ok:
                print(pal.log_tail(120))
                for line in federation_complaints(testbed, pal.server_name):
                    print(line)


def members(state: dict[str, Any] | None) -> set[str]:
    return set(state["joined_members"]) if state else set()


def test_joins_at_startup_and_tracks_live_state(bed, palisade_factory, step) -> None:
    testbed, hs1, hs2 = bed
    alice = hs1.register_user("alice", admin=True)
    bob = hs2.register_user("bob")
    room_id = alice.create_room(room_version="12", public=True, name="palisade membership")
    step(f"{alice.user_id} created public v12 room {room_id}")

    pal = palisade_factory(join_room_ids=[room_id])
    joined = lambda: (s := pal.room_state(room_id)) and s["join_state"] == "joined" and s  # noqa: E731
    state, took = wait_for("palisade joined at startup", joined, JOIN_DEADLINE, pal)
    assert state["room_version"] == "12" and state["community_id"] == "default", state
    assert {alice.user_id, pal.user_id} <= members(state), state["joined_members"]
    assert alice.membership(room_id, pal.user_id) == "join"
    step(f"scenario startup-join: palisade joined {room_id} in {took:.1f}s; hs1 sees {pal.user_id} joined")

    assert bob.join(room_id, via=[hs1.server_name]) == room_id
    _, took = wait_for("bob's join in palisade's members",
                       lambda: bob.user_id in members(pal.room_state(room_id)), STATE_DEADLINE, pal)
    state = pal.room_state(room_id)
    assert {alice.user_id, bob.user_id, pal.user_id} <= members(state), state["joined_members"]
    step(f"scenario second-homeserver-join: stored members {sorted(members(state))} ({took:.1f}s after the join)")

    # A power-level change on hs1: alice makes bob an admin.
    levels = alice.get_state_event(room_id, "m.room.power_levels")
    levels.setdefault("users", {})[bob.user_id] = 100
    alice.set_state(room_id, "m.room.power_levels", levels)
    _, took = wait_for("power levels from hs1",
                       lambda: (pal.room_state(room_id)["power_levels"].get("users", {}).get(bob.user_id) == 100),
                       STATE_DEADLINE, pal)
    step(f"scenario power-levels-hs1: bob's level 100 stored {took:.1f}s after hs1 sent it")

    # A topic change on hs2, by bob (allowed once hs2 has the new power levels too).
    deadline = time.monotonic() + 15
    while bob.get_state_event(room_id, "m.room.power_levels").get("users", {}).get(bob.user_id) != 100:
        assert time.monotonic() < deadline, "hs2 never saw bob's new power level"
        time.sleep(0.1)
    bob.set_state(room_id, "m.room.topic", {"topic": "set on hs2"})
    _, took = wait_for("topic from hs2", lambda: pal.room_state(room_id)["topic"] == "set on hs2",
                       STATE_DEADLINE, pal)
    step(f"scenario topic-hs2: topic stored {took:.1f}s after hs2 sent it")

    # And the other way round: a power-level change on hs2, a topic change on hs1.
    levels = bob.get_state_event(room_id, "m.room.power_levels")
    levels["state_default"] = 60
    bob.set_state(room_id, "m.room.power_levels", levels)
    _, took = wait_for("power levels from hs2",
                       lambda: pal.room_state(room_id)["power_levels"].get("state_default") == 60,
                       STATE_DEADLINE, pal)
    step(f"scenario power-levels-hs2: state_default 60 stored {took:.1f}s after hs2 sent it")
    alice.set_state(room_id, "m.room.topic", {"topic": "set on hs1"})
    _, took = wait_for("topic from hs1", lambda: pal.room_state(room_id)["topic"] == "set on hs1",
                       STATE_DEADLINE, pal)
    step(f"scenario topic-hs1: topic stored {took:.1f}s after hs1 sent it")

    # A restart: what changed while Palisade was down is repaired by a resync at startup (the room is in
    # join_room_ids and joined already), besides Synapse retrying its transactions.
    pal.stop()
    alice.set_state(room_id, "m.room.topic", {"topic": "set while palisade was down"})
    t0 = time.monotonic()
    pal.start()
    _, took = wait_for("topic set during downtime", lambda: pal.room_state(room_id)["topic"]
                       == "set while palisade was down", 15, pal)
    _, _ = wait_for("resync logged", lambda: "resynced room state" in pal.log_text(), 15, pal)
    assert {alice.user_id, bob.user_id, pal.user_id} <= members(pal.room_state(room_id))
    step(f"scenario restart-resync: state changed during downtime stored {time.monotonic() - t0:.1f}s after "
         "restart (resync from a resident server)")

    # Messages flow to palisade too (it is in the room) without errors.
    alice.send_message(room_id, "hello palisade")
    time.sleep(1.0)
    complaints = federation_complaints(testbed, pal.server_name)
    assert not complaints, "\n".join(complaints)
    step(f"scenario synapse-logs: no WARNING/ERROR lines about {pal.server_name} in hs1/hs2 logs")


def test_joins_on_invite(bed, palisade_factory, step) -> None:
    testbed, hs1, _ = bed
    alice = hs1.register_user("alice", admin=True)
    room_id = alice.create_room(room_version="12", public=False, name="invite only")
    pal = palisade_factory(accept_invites="always")
    alice.invite(room_id, pal.user_id)
    step(f"{alice.user_id} invited {pal.user_id} to private room {room_id}")
    joined = lambda: (s := pal.room_state(room_id)) and s["join_state"] == "joined" and s  # noqa: E731
    state, took = wait_for("palisade joined after the invite", joined, JOIN_DEADLINE, pal)
    assert {alice.user_id, pal.user_id} <= members(state), state["joined_members"]
    assert state["join_rules"]["join_rule"] == "invite", state["join_rules"]
    assert alice.membership(room_id, pal.user_id) == "join"
    step(f"scenario invite-join: palisade joined {room_id} {took:.1f}s after the invite")

    complaints = federation_complaints(testbed, pal.server_name)
    assert not complaints, "\n".join(complaints)
    step(f"scenario synapse-logs: no WARNING/ERROR lines about {pal.server_name} in hs1/hs2 logs")
