"""MSC4284 end to end: rooms whose ``m.room.policy`` names Palisade get their events signed or refused by it.

Scenarios (one summary line each): a neutral message reaches hs2 carrying Palisade's ``ed25519:policy_server``
signature; a keyword-filtered message is refused with 400 ``M_FORBIDDEN`` and never reaches hs2; after the room
sets ``m.room.policy`` to ``{}`` messages flow with no ``/sign`` call at all.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness import MatrixError, request_json
from harness.client import q
from harness.http import ca_context
from harness.palisade import federation_get
from membership_test import bed, federation_complaints, palisade_factory, wait_for  # noqa: F401 - fixtures

SPAM = "buy now: spammy spam"  # matches the default `keyword_filter_keywords`


def policy_key(pal) -> str:
    doc = request_json("GET", f"{pal.url}/.well-known/matrix/policy_server",
                       ssl_context=ca_context(str(pal.testbed.ca.cert)))
    return doc["public_keys"]["ed25519"]


def state_content(client, room_id: str, event_type: str) -> dict[str, Any] | None:
    """The content of a state event, or None while the server does not have it."""
    try:
        return client.get_state_event(room_id, event_type)
    except MatrixError as e:
        if e.status == 404:
            return None
        raise


def bodies(client, room_id: str) -> list[str]:
    return [e.get("content", {}).get("body") for e in client.messages(room_id, limit=50)["chunk"]]


def test_policy_server_signs_and_refuses(bed, palisade_factory, step) -> None:
    testbed, hs1, hs2 = bed
    alice = hs1.register_user("alice", admin=True)
    bob = hs2.register_user("bob")
    room_id = alice.create_room(room_version="12", public=True, name="palisade sign")
    pal = palisade_factory(join_room_ids=[room_id])
    wait_for("palisade joined", lambda: (s := pal.room_state(room_id)) and s["join_state"] == "joined", 30, pal)
    assert bob.join(room_id, via=[hs1.server_name]) == room_id
    wait_for("bob in palisade's members", lambda: bob.user_id in pal.room_state(room_id)["joined_members"], 5, pal)

    key = policy_key(pal)
    alice.set_state(room_id, "m.room.policy", {"via": pal.server_name, "public_keys": {"ed25519": key}})
    wait_for("policy in palisade's state",
             lambda: (pal.room_state(room_id)["policy"] or {}).get("via") == pal.server_name, 5, pal)
    deadline = time.monotonic() + 15
    while (state_content(bob, room_id, "m.room.policy") or {}).get("via") != pal.server_name:
        assert time.monotonic() < deadline, "hs2 never saw the policy event"
        time.sleep(0.1)
    step(f"m.room.policy names {pal.server_name} on hs1, hs2 and in palisade's state")

    # Neutral: signed by us, delivered to hs2 with our signature.
    before = pal.sign_requests()
    event_id = alice.send_message(room_id, "hello, a perfectly neutral message")
    seen = bob.wait_for_event(room_id, lambda e: e.get("event_id") == event_id, timeout=15)
    assert seen["content"]["body"] == "hello, a perfectly neutral message"
    pdu = federation_get(pal, hs2.federation_url, hs2.server_name,
                         f"/_matrix/federation/v1/event/{q(event_id)}")["pdus"][0]
    assert "ed25519:policy_server" in pdu["signatures"].get(pal.server_name, {}), pdu["signatures"]
    calls = pal.sign_requests() - before
    assert calls >= 1, calls
    step(f"scenario neutral: {event_id} reached hs2 with {pal.server_name}'s ed25519:policy_server signature "
         f"({calls} /sign call(s))")

    # Spam: refused to the client, never federated.
    with pytest.raises(MatrixError) as refused:
        alice.send_message(room_id, SPAM)
    error = refused.value
    assert error.status == 400 and error.errcode == "M_FORBIDDEN", (error.status, error.body)
    assert error.json.get("harms"), error.body
    step(f"scenario keyword-refused: hs1 answered {error.status} {error.errcode} ({error.body.strip()})")

    # `{}` switches the policy server off. The policy event is never sent for signing, and it also marks the
    # point in hs1's stream after the refused message: once hs2 has it, the refused message would be there too.
    alice.set_state(room_id, "m.room.policy", {})
    deadline = time.monotonic() + 15
    while state_content(bob, room_id, "m.room.policy") != {}:
        assert time.monotonic() < deadline, "hs2 never saw the empty policy"
        time.sleep(0.1)
    assert SPAM not in bodies(bob, room_id)
    step("scenario keyword-refused: hs2 never received the refused message")

    before = pal.sign_requests()
    a = alice.send_message(room_id, "from hs1 without a policy server")
    b = bob.send_message(room_id, "from hs2 without a policy server")
    bob.wait_for_event(room_id, lambda e: e.get("event_id") == a, timeout=15)
    alice.wait_for_event(room_id, lambda e: e.get("event_id") == b, timeout=15)
    assert pal.sign_requests() == before, "a /sign call after m.room.policy was emptied"
    step("scenario empty-policy: messages flow both ways with no /sign call")

    complaints = [
        line
        for line in federation_complaints(testbed, pal.server_name)
        # Expected: Synapse noting events without our signature before asking us (history from before the
        # policy was set), and the refusal of the spam message.
        if "synapse.handlers.room_policy" not in line
        and not ("/_matrix/policy/v1/sign" in line and "400: Bad Request" in line)
    ]
    assert not complaints, "\n".join(complaints)
    step(f"scenario synapse-logs: no WARNING/ERROR lines about {pal.server_name} in hs1/hs2 logs")
