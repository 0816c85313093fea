"""Palisade's end-to-end suite: two real Synapse 1.163.2 homeservers and Palisade, driven as an operator and as
users would. One test bed (hs1, hs2, one Palisade on SQLite with the admin API on) is shared by every scenario of
this module; each scenario makes its own users, its own community and its own fresh rooms.

Scenarios, in order (the names are those of the summary lines printed at the end of the run):

* ``onboarding``: community through the admin API, Palisade joins through hs1, ``m.room.policy`` built from
  ``/.well-known/matrix/policy_server``; the first message is signed.
* ``neutral_traffic``: messages, reactions, edits, topic and display-name changes from both homeservers are signed
  and visible on both sides; a homeserver makes no ``/sign`` call for events that arrive signed.
* ``invites``: an invite from hs1 to a user of hs2 into a protected invite-only room, accepted, then messages.
* ``refusals``: keyword, mentions and media (default config) refused with 400 ``M_FORBIDDEN`` + harms, visible
  nowhere; the refused sender is hellbanned and its refusal carries ``expiry``.
* ``policy_list``: an ``m.policy.rule.user`` ban in a policy room on hs2 refuses the user within seconds; emptying the
  rule lets them speak again. ``policy_list_rule_redaction``: the same with a redaction instead.
* ``shadow_mode``: a shadowed keyword filter lets the message through; the decision log shows it would have fired.
* ``history``: hs2 joins after messages exist and paginates back: nothing was soft-failed.
* ``restart_consistency``: Palisade restarts mid-conversation; events asked about again get the same answers, even
  after a config change.
* ``two_instances_postgres``: two Palisades on one fresh PostgreSQL database behind a round-robin proxy give one
  answer per event.
* ``escape_hatch``: ``m.room.policy`` ``{}`` stops every ``/sign`` call; with Palisade stopped a sender gets an error
  quickly, and messages work again when it returns.
* ``latency``: per-message latency hs1's client sees, 100 messages to a protected room vs. 100 to a room without a
  policy server (printed as one ``LATENCY`` line).

``/sign`` calls are counted per calling homeserver from that homeserver's own log (Synapse logs every outbound
federation request it completes at INFO, with its destination), and in total from Palisade's ``/metrics``.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import re
import secrets
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import record_latency, step
from harness import MatrixClient, MatrixError, Synapse, Testbed, free_port
from harness.client import q
from harness.palisade import Palisade, federation_get
from harness.proxy import RoundRobinProxy

SPAM = "spammy spam"  # the default `keyword_filter_keywords`
POLICY_KEY_ID = "ed25519:policy_server"
HARM_SPAM = "org.matrix.msc4456.spam"
HARM_FLOODING = "org.matrix.msc4456.spam.flooding"
HARM_OTHER = "org.matrix.msc4456.other"
HARM_MEDIA = "org.matrix.policyserv.media"
SPAMMY_CONFIG = {"return_policy_server_spammy_events": True}
SPAMMY_FLAG = "io.element.synapse.policy_server_spammy"
_names = itertools.count(1)


# -- helpers ----------------------------------------------------------------------------------------------------------
def wait_until(what: str, probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> tuple[Any, float]:
    """Polls ``probe`` until it returns something truthy; returns it and the seconds it took."""
    t0 = time.monotonic()
    last: Any = None
    while True:
        try:
            last = probe()
        except MatrixError as e:  # e.g. 403 while a federated join settles
            last = e
        if last and not isinstance(last, MatrixError):
            return last, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)


def refused(send: Callable[[], Any]) -> MatrixError:
    """Runs ``send``, which must fail; returns the error."""
    with pytest.raises(MatrixError) as info:
        send()
    return info.value


def assert_policy_refusal(error: MatrixError, *harms: str) -> None:
    assert error.status == 400 and error.errcode == "M_FORBIDDEN", (error.status, error.body)
    got = set(error.json.get("harms") or [])
    assert set(harms) <= got, f"harms {sorted(got)} lack {sorted(set(harms) - got)}: {error.body}"
    assert error.json.get("org.matrix.msc4387.harms") == error.json.get("harms"), error.body


def state_or_none(client: MatrixClient, room_id: str, event_type: str, state_key: str = "") -> Any:
    try:
        return client.get_state_event(room_id, event_type, state_key)
    except MatrixError as e:
        if e.status in (403, 404):
            return None
        raise


def all_events(client: MatrixClient, room_id: str) -> list[dict[str, Any]]:
    """The room's whole timeline as ``client`` sees it, paginating back to the start."""
    events: list[dict[str, Any]] = []
    token = None
    for _ in range(50):
        page = client.messages(room_id, limit=100, from_token=token)
        events += page["chunk"]
        if not page.get("end") or not page["chunk"]:
            break
        token = page["end"]
    return events


def event_ids(client: MatrixClient, room_id: str) -> set[str]:
    return {e["event_id"] for e in all_events(client, room_id)}


def visible(client: MatrixClient, room_id: str, event_id: str, timeout: float = 15.0) -> dict[str, Any]:
    return client.wait_for_event(room_id, lambda e: e.get("event_id") == event_id, timeout=timeout, limit=100)


def room_version_rules(version: str = "12"):
    from synapse.api.room_versions import KNOWN_ROOM_VERSIONS

    return KNOWN_ROOM_VERSIONS[version]


def policy_signature_valid(pdu: dict[str, Any], server_name: str, key_b64: str) -> bool:
    """Whether ``pdu`` carries a valid ``ed25519:policy_server`` signature of ``server_name`` under ``key_b64``
    (over the redacted event, as Synapse checks it)."""
    from signedjson.key import decode_verify_key_bytes
    from signedjson.sign import SignatureVerifyException, verify_signed_json
    from synapse.synapse_rust.events import redact_event_dict
    from unpaddedbase64 import decode_base64

    if POLICY_KEY_ID not in pdu.get("signatures", {}).get(server_name, {}):
        return False
    redacted = dict(redact_event_dict(room_version_rules(), pdu))
    redacted["signatures"] = pdu["signatures"]
    key = decode_verify_key_bytes(POLICY_KEY_ID, decode_base64(key_b64))
    try:
        verify_signed_json(redacted, server_name, key)
        return True
    except SignatureVerifyException:
        return False


def craft_event(hs: Synapse, template: dict[str, Any], content: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A new event of ``hs`` made from ``template`` (a PDU of the same room and sender) with ``content``: hashed and
    signed with ``hs``'s key, as ``hs`` would send it. Returns (PDU, event ID)."""
    import signedjson.key
    from synapse.crypto.event_signing import add_hashes_and_signatures
    from synapse.events import make_event_from_dict

    with hs.signing_key_path.open() as f:
        key = signedjson.key.read_signing_keys(f)[0]
    pdu = {k: v for k, v in template.items() if k not in ("signatures", "hashes", "unsigned", "event_id")}
    pdu["content"] = content
    pdu["origin_server_ts"] = int(time.time() * 1000) + next(_names)
    add_hashes_and_signatures(room_version_rules(), pdu, hs.server_name, key)
    return pdu, make_event_from_dict(pdu, room_version_rules()).event_id


class LogCursor:
    """Reads the lines a log file gained since the cursor was made (or last :meth:`mark`)."""

    def __init__(self, path: Path):
        self.path = path
        self.mark()

    def mark(self) -> None:
        try:
            self.offset = self.path.stat().st_size
        except FileNotFoundError:
            self.offset = 0

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                return f.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines()[-n:])


class SignCounter:
    """``/sign`` calls since creation, per calling homeserver (from its log) and in total (Palisade's metrics)."""

    def __init__(self, synapses: list[Synapse], pal: Palisade | None, policy_server: str | None = None):
        name = re.escape(policy_server or pal.server_name)
        # Synapse logs "{POST-O-12} [dest] Completed request: 200 OK ... - POST matrix-federation://dest/_matrix/
        # policy/v1/sign" for a 2xx, "Got response headers: 400 ..." for an error answer, and "Request failed" when
        # it got none. Synapse POSTs nothing else to a policy server in these scenarios.
        self.pattern = re.compile(r"\{(POST-O-\d+)\} \[" + name + r"\] (Completed request|Got response headers|"
                                  r"Request failed)")
        self.cursors = {hs.name: LogCursor(hs.log_file) for hs in synapses}
        self.pal = pal
        self.start_total = pal.sign_requests() if pal else 0

    def by_server(self) -> dict[str, int]:
        time.sleep(0.3)  # Synapse writes its log line after handing the answer on
        out = {}
        for name, cursor in self.cursors.items():
            txns = set()
            for line in cursor.lines():
                m = self.pattern.search(line)
                if m and ("/_matrix/policy/" in line or m.group(2) != "Completed request"):
                    txns.add(m.group(1))
            out[name] = len(txns)
        return out

    def total(self) -> int:
        return self.pal.sign_requests() - self.start_total if self.pal else 0


# -- the shared test bed -----------------------------------------------------------------------------------------------
@dataclass
class E2E:
    testbed: Testbed
    hs1: Synapse
    hs2: Synapse
    pal: Palisade
    cursors: dict[str, LogCursor] = field(default_factory=dict)

    @property
    def synapses(self) -> list[Synapse]:
        return [self.hs1, self.hs2]

    def user(self, hs: Synapse, prefix: str, *, admin: bool = False, displayname: str | None = None) -> MatrixClient:
        client = hs.register_user(f"{prefix}{next(_names)}", admin=admin)
        if admin:
            client.set_account_data("io.element.synapse.admin_client_config", SPAMMY_CONFIG)
        if displayname:
            client.call("PUT", f"/_matrix/client/v3/profile/{q(client.user_id)}/displayname",
                        {"displayname": displayname})
        return client

    def community(self, name: str, config: dict[str, Any] | None = None) -> str:
        created = self.pal.admin("POST", "/communities/new", {"name": f"{name} {next(_names)}"})
        cid = created["community_id"]
        if config:
            self.pal.admin("PATCH", f"/communities/{q(cid)}", {"config": config})
        return cid

    def counter(self, pal: Palisade | None = None) -> SignCounter:
        return SignCounter(self.synapses, pal or self.pal)

    def protect(self, room_id: str, admin: MatrixClient, community_id: str, observers: list[MatrixClient] = (),
                pal: Palisade | None = None, via: str | None = None) -> str:
        """Onboards ``room_id`` as an operator: Palisade joins it into ``community_id`` through hs1 (admin API), and
        the room admin sets ``m.room.policy`` from the well-known answer. Waits until Palisade and every observer's
        homeserver see Palisade joined and the policy in force. Returns the policy key."""
        pal = pal or self.pal
        room = pal.admin("POST", f"/rooms/{q(room_id)}/join",
                         {"community_id": community_id, "via": via or self.hs1.server_name})
        assert room["join_state"] == "joined" and room["community_id"] == community_id, room
        key = pal.well_known()["public_keys"]["ed25519"]
        admin.set_state(room_id, "m.room.policy", {"via": pal.server_name, "public_keys": {"ed25519": key}})
        wait_until("m.room.policy in Palisade's state",
                   lambda: ((pal.room_state(room_id) or {}).get("policy") or {}).get("via") == pal.server_name)
        for client in [admin, *observers]:
            wait_until(f"{client.user_id} sees Palisade joined",
                       lambda c=client: c.membership(room_id, pal.user_id) == "join", 15)
            wait_until(f"{client.user_id} sees m.room.policy",
                       lambda c=client: (state_or_none(c, room_id, "m.room.policy") or {}).get("via")
                       == pal.server_name, 15)
        return key

    def room(self, creator: MatrixClient, joiners: list[MatrixClient] = (), **kwargs: Any) -> str:
        room_id = creator.create_room(room_version="12", **kwargs)
        for client in joiners:
            assert client.join(room_id, via=[self.hs1.server_name]) == room_id
        for client in joiners:
            wait_until(f"{client.user_id} joined on the creator's server",
                       lambda c=client: creator.membership(room_id, c.user_id) == "join", 15)
            # Backfill the history now, while no policy server is set: Synapse asks the policy server about every
            # unsigned event it pulls later, which would blur the per-origin /sign counts of the scenarios.
            all_events(client, room_id)
        return room_id

    def mark(self) -> None:
        for cursor in self.cursors.values():
            cursor.mark()

    def tails(self, lines: int = 60) -> str:
        """The log lines of hs1, hs2 and Palisade since the current scenario started (the last ``lines`` each)."""
        return "\n".join(f"----- {name}: {cursor.path} (since this scenario started) -----\n{cursor.tail(lines)}"
                         for name, cursor in self.cursors.items())


@pytest.fixture(scope="module")
def e2e(request: pytest.FixtureRequest) -> Iterator[E2E]:
    tb = Testbed()
    step(f"e2e test bed in {tb.dir}")
    t0 = time.monotonic()
    try:
        # bcrypt at 4 rounds: registering the scenarios' users must not dominate the run.
        hs1, hs2 = tb.start_synapses("hs1", "hs2", extra_config={"bcrypt_rounds": 4})
        step(f"e2e: hs1 {hs1.server_name} and hs2 {hs2.server_name} healthy after {time.monotonic() - t0:.1f}s")
        pal = Palisade(tb, join_server=hs1.server_name, api_key=secrets.token_hex(16), accept_invites="always")
        t1 = time.monotonic()
        pal.start()
        step(f"e2e: palisade {pal.server_name} serving after {time.monotonic() - t1:.1f}s (log {pal.log_file})")
    except BaseException:
        tb.close(failed=True)
        raise
    env = E2E(tb, hs1, hs2, pal)
    env.cursors = {"hs1": LogCursor(hs1.log_file), "hs2": LogCursor(hs2.log_file),
                   "palisade": LogCursor(pal.log_file)}
    failed_before = request.session.testsfailed
    try:
        yield env
    finally:
        pal.stop()
        tb.stop_all()
        failed = request.session.testsfailed > failed_before
        if failed or tb.keep:
            step(f"e2e: kept {tb.dir}")
        tb.close(failed=failed)


@pytest.fixture(autouse=True)
def _scenario_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Marks the logs at the start of each scenario, so a failure shows what happened during it."""
    env = request.getfixturevalue("e2e")
    env.mark()
    yield


# -- 1. onboarding -------------------------------------------------------------------------------------------------
def test_onboarding(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    admin = e2e.user(hs1, "owner", admin=True)
    guest = e2e.user(hs2, "guest", admin=True)

    # The operator: a community, then the room joined into it through hs1.
    created = pal.admin("POST", "/communities/new", {"name": "Onboarding community"})
    cid = created["community_id"]
    assert created["name"] == "Onboarding community" and created["config"] == {}, created
    assert cid in {c["community_id"] for c in pal.admin("GET", "/communities")}
    room_id = e2e.room(admin, [guest], name="onboarding")
    with pytest.raises(MatrixError) as not_yet:
        pal.admin("GET", f"/rooms/{q(room_id)}")
    assert not_yet.value.status == 404 and not_yet.value.errcode == "M_NOT_FOUND", not_yet.value.body
    t0 = time.monotonic()
    joined = pal.admin("POST", f"/rooms/{q(room_id)}/join", {"community_id": cid, "via": hs1.server_name})
    took = time.monotonic() - t0
    assert joined["room_id"] == room_id and joined["community_id"] == cid and joined["join_state"] == "joined"
    assert joined["room_version"] == "12", joined
    assert pal.admin("GET", f"/rooms/{q(room_id)}")["community_id"] == cid
    wait_until("hs2 sees Palisade joined", lambda: guest.membership(room_id, pal.user_id) == "join", 15)
    step(f"onboarding: community {cid} created; palisade joined {room_id} through hs1 in {took:.2f}s")

    # What Palisade serves and what Synapse reads: the stable well-known gives `public_keys.ed25519`, which is the
    # stable `m.room.policy` shape Synapse reads first; the unstable well-known gives the flat `public_key` of the
    # unstable `org.matrix.msc4284.policy` event (read only when there is no stable event).
    stable = pal.well_known()
    assert set(stable) == {"public_keys"} and set(stable["public_keys"]) == {"ed25519"}, stable
    key = stable["public_keys"]["ed25519"]
    assert pal.well_known(unstable=True) == {"public_key": key}
    content = {"via": pal.server_name, "public_keys": {"ed25519": key}}
    admin.set_state(room_id, "m.room.policy", content)
    wait_until("policy in Palisade's state",
               lambda: ((pal.room_state(room_id) or {}).get("policy") or {}).get("via") == pal.server_name)
    _, took = wait_until("hs2 has m.room.policy", lambda: state_or_none(guest, room_id, "m.room.policy") == content,
                         15)
    step(f"onboarding: m.room.policy {content} in force on hs1, hs2 ({took:.2f}s) and in palisade's state")

    # The first message is signed by Palisade and arrives at hs2 with a signature valid under the well-known key.
    counter = e2e.counter()
    event_id = admin.send_message(room_id, "the first message in a protected room")
    visible(guest, room_id, event_id)
    pdu = federation_get(pal, hs2.federation_url, hs2.server_name,
                         f"/_matrix/federation/v1/event/{q(event_id)}")["pdus"][0]
    assert policy_signature_valid(pdu, pal.server_name, key), pdu["signatures"]
    calls = counter.by_server()
    assert calls == {"hs1": 1, "hs2": 0}, calls
    assert counter.total() == 1, counter.total()
    verdicts = pal.admin("GET", f"/verdicts/{q(event_id)}")["verdicts"]
    assert [v["class"] for v in verdicts] == ["neutral"], verdicts
    step(f"onboarding: first message signed ({calls}); hs2's copy carries a valid {POLICY_KEY_ID} signature")


# -- 2. neutral traffic ------------------------------------------------------------------------------------------------
def test_neutral_traffic(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "alice")
    bob = e2e.user(hs2, "bob")
    room_id = e2e.room(alice, [bob], name="neutral traffic")
    levels = alice.get_state_event(room_id, "m.room.power_levels")
    levels.setdefault("users", {})[bob.user_id] = 50  # bob may set the topic
    alice.set_state(room_id, "m.room.power_levels", levels)
    wait_until("hs2 has bob's power level",
               lambda: bob.get_state_event(room_id, "m.room.power_levels")["users"].get(bob.user_id) == 50, 15)
    key = e2e.protect(room_id, alice, e2e.community("neutral"), [bob])

    counter = e2e.counter()
    sent: dict[str, list[str]] = {"hs1": [], "hs2": []}
    a1 = alice.send_message(room_id, "hello from hs1")
    b1 = bob.send_message(room_id, "hello from hs2")
    sent["hs1"].append(a1)
    sent["hs2"].append(b1)
    visible(alice, room_id, b1)
    visible(bob, room_id, a1)
    for client, hs, target in ((alice, "hs1", b1), (bob, "hs2", a1)):
        sent[hs].append(client.send_event(room_id, "m.reaction", {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}))
    for client, hs, original in ((alice, "hs1", a1), (bob, "hs2", b1)):
        sent[hs].append(client.send_event(room_id, "m.room.message", {
            "msgtype": "m.text", "body": "* edited", "m.new_content": {"msgtype": "m.text", "body": "edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original}}))
    sent["hs1"].append(alice.set_state(room_id, "m.room.topic", {"topic": "topic from hs1"}))
    sent["hs2"].append(bob.set_state(room_id, "m.room.topic", {"topic": "topic from hs2"}))

    for origin, other, other_hs in (("hs1", bob, hs2), ("hs2", alice, hs1)):
        for event_id in sent[origin]:
            visible(other, room_id, event_id)
            pdu = federation_get(pal, other_hs.federation_url, other_hs.server_name,
                                 f"/_matrix/federation/v1/event/{q(event_id)}")["pdus"][0]
            assert policy_signature_valid(pdu, pal.server_name, key), (origin, pdu["type"], pdu["signatures"])
    wait_until("hs1 has hs2's topic", lambda: alice.get_state_event(room_id, "m.room.topic")["topic"]
               == "topic from hs2", 15)
    calls = counter.by_server()
    # Each homeserver asked only about its own events; events that arrived signed were not asked about again.
    assert calls == {"hs1": len(sent["hs1"]), "hs2": len(sent["hs2"])}, (calls, sent)
    assert counter.total() == len(sent["hs1"]) + len(sent["hs2"]), counter.total()
    for event_id in sent["hs1"] + sent["hs2"]:
        classes = [v["class"] for v in pal.admin("GET", f"/verdicts/{q(event_id)}")["verdicts"]]
        assert classes in (["neutral"], ["allowed"]), (event_id, classes)
    step(f"neutral_traffic: message, reaction, edit, topic from each side signed and visible on both; "
         f"/sign calls by origin {calls} (one per own event, none for received signed events)")

    # Display names: Synapse never asks about its own member events; the receiving server asks once.
    counter = e2e.counter()
    for client, name in ((alice, "Alice on hs1"), (bob, "Bob on hs2")):
        client.call("PUT", f"/_matrix/client/v3/profile/{q(client.user_id)}/displayname", {"displayname": name})
    wait_until("hs2 sees alice's display name",
               lambda: (state_or_none(bob, room_id, "m.room.member", alice.user_id) or {}).get("displayname")
               == "Alice on hs1", 15)
    wait_until("hs1 sees bob's display name",
               lambda: (state_or_none(alice, room_id, "m.room.member", bob.user_id) or {}).get("displayname")
               == "Bob on hs2", 15)
    calls = counter.by_server()
    assert calls == {"hs1": 1, "hs2": 1}, calls
    step(f"neutral_traffic: display-name changes visible on both sides; /sign calls {calls} "
         "(the receiving server asks for member events, which Synapse does not send for signing itself)")


# -- 9. invites ---------------------------------------------------------------------------------------------------------
def test_invites(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "inviter")
    bob = e2e.user(hs2, "invitee")
    room_id = e2e.room(alice, public=False, name="invite only")
    # An invite-only room: the operator cannot join Palisade before it is invited. With `accept_invites` on,
    # Palisade counter-signs the invite and joins (into the `default` community); the operator moves the room.
    alice.invite(room_id, pal.user_id)
    _, took = wait_until("palisade joined after its invite",
                         lambda: (pal.room_state(room_id) or {}).get("join_state") == "joined", 30)
    cid = e2e.community("invites")
    moved = pal.admin("PUT", f"/rooms/{q(room_id)}/community", {"community_id": cid})
    assert moved["community_id"] == cid, moved
    key = pal.well_known()["public_keys"]["ed25519"]
    alice.set_state(room_id, "m.room.policy", {"via": pal.server_name, "public_keys": {"ed25519": key}})
    wait_until("m.room.policy in Palisade's state",
               lambda: ((pal.room_state(room_id) or {}).get("policy") or {}).get("via") == pal.server_name)
    step(f"invites: palisade joined invite-only {room_id} {took:.2f}s after its invite; moved to community {cid}")
    counter = e2e.counter()
    alice.invite(room_id, bob.user_id)
    _, took = wait_until("bob's invite on hs2", lambda: any(
        r == room_id for r in bob.call("GET", "/_matrix/client/v3/sync", params={"timeout": 0})
        .get("rooms", {}).get("invite", {})), 15)
    assert bob.join(room_id, via=[hs1.server_name]) == room_id
    wait_until("bob joined on hs1", lambda: alice.membership(room_id, bob.user_id) == "join", 15)
    a = alice.send_message(room_id, "welcome")
    b = bob.send_message(room_id, "thanks")
    visible(bob, room_id, a)
    visible(alice, room_id, b)
    calls = counter.by_server()
    # hs2 asks about the invite it receives (/invite), hs1 about the join it receives (send_join), each about its
    # own message.
    assert calls["hs1"] >= 2 and calls["hs2"] >= 2, calls
    step(f"invites: hs1's invite reached hs2 in {took:.2f}s, accepted, messages both ways; /sign calls {calls}")


# -- 3. refusals ----------------------------------------------------------------------------------------------------------
def test_refusals(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    owner = e2e.user(hs1, "mod", admin=True)  # server admins: they also see events soft-failed by the policy
    watcher = e2e.user(hs2, "watcher", admin=True)
    keyworder = e2e.user(hs1, "keyworder")
    mentioner = e2e.user(hs1, "mentioner")
    imager = e2e.user(hs2, "imager")
    # 7 members named in one message through m.mentions, their IDs and their display names: 21 mentions >= 20,
    # with 14 '@' < 20, so the mentions filter fires and many_ats does not.
    named = [e2e.user(hs1, "member", displayname=f"Member{chr(65 + i)}x") for i in range(7)]
    room_id = e2e.room(owner, [watcher, keyworder, mentioner, imager, *named], name="refusals")
    cid = e2e.community("refusals")  # the default config
    e2e.protect(room_id, owner, cid, [watcher])
    wait_until("palisade knows the named members' display names", lambda: all(
        m.user_id in (pal.room_state(room_id) or {}).get("joined_members", []) for m in named), 10)

    counter = e2e.counter()
    refusals: dict[str, MatrixError] = {}
    refusals["keyword"] = refused(lambda: keyworder.send_message(room_id, f"buy now: {SPAM}"))
    assert_policy_refusal(refusals["keyword"], HARM_SPAM)
    ids = [m.user_id for m in named]
    mention_body = "hey " + " ".join(f"{m.user_id} Member{chr(65 + i)}x" for i, m in enumerate(named))
    refusals["mentions"] = refused(lambda: mentioner.send_event(room_id, "m.room.message", {
        "msgtype": "m.text", "body": mention_body, "m.mentions": {"user_ids": ids}}))
    assert_policy_refusal(refusals["mentions"], HARM_FLOODING)
    refusals["media"] = refused(lambda: imager.send_event(room_id, "m.room.message", {
        "msgtype": "m.image", "body": "cat.png", "url": f"mxc://{hs2.server_name}/someimage"}))
    assert_policy_refusal(refusals["media"], HARM_SPAM, HARM_MEDIA)
    for kind, error in refusals.items():
        assert "expiry" not in error.json, (kind, error.body)
        step(f"refusals: {kind} -> {error.status} {error.errcode} harms={error.json['harms']}")

    # The refused sender is now hellbanned in the community: a neutral message is refused, time-bound.
    now_ms = time.time() * 1000
    hellbanned = refused(lambda: keyworder.send_message(room_id, "an innocent message"))
    assert_policy_refusal(hellbanned, HARM_FLOODING)
    expiry = hellbanned.json.get("expiry")
    assert isinstance(expiry, int) and now_ms + 55 * 60_000 < expiry < now_ms + 65 * 60_000, hellbanned.body
    step(f"refusals: hellbanned sender's next message -> {hellbanned.status} harms={hellbanned.json['harms']} "
         f"expiry in {(expiry - now_ms) / 60_000:.1f} min")

    calls = counter.by_server()
    assert calls == {"hs1": 3, "hs2": 1}, calls

    # Visible nowhere: a later message from each side arrives, the refused ones are on neither server (not even for
    # admins who see policy-soft-failed events), and Palisade's decision log has each refusal with its trace.
    marker1 = owner.send_message(room_id, "marker from hs1")
    marker2 = watcher.send_message(room_id, "marker from hs2")
    visible(watcher, room_id, marker1)
    visible(owner, room_id, marker2)
    bodies = ("buy now", "hey @", "cat.png", "an innocent message")
    for client in (owner, watcher):
        for event in all_events(client, room_id):
            body = str(event.get("content", {}).get("body", ""))
            assert not body.startswith(bodies), (client.user_id, event)
            assert not event.get("unsigned", {}).get(SPAMMY_FLAG), (client.user_id, event)
    log = pal.admin("GET", f"/communities/{q(cid)}/verdicts", refused_only="true")["verdicts"]
    assert len(log) == 4, log
    traces = {entry["filter"]: entry for v in log for entry in v["trace"] if entry["outcome"].lower() == "prohibited"}
    assert {"keyword", "mentions", "media", "hellban_prefilter"} <= set(traces), sorted(traces)
    assert "21 mentions" in traces["mentions"]["reason"], traces["mentions"]
    for v in log:
        for client in (owner, watcher):
            with pytest.raises(MatrixError) as missing:
                client.get_event(room_id, v["event_id"])
            assert missing.value.status == 404, missing.value.body
    step("refusals: no refused event on hs1 or hs2; the decision log holds all 4 with keyword, mentions "
         f"({traces['mentions']['reason']}), media and hellban_prefilter in their traces")


# -- 4. policy lists -------------------------------------------------------------------------------------------------------
def _policy_list_room(e2e: E2E, name: str) -> tuple[str, str, MatrixClient, MatrixClient, MatrixClient]:
    """A protected room on hs1 with a speaker on hs1, and a policy room on hs2 subscribed by its community (which
    does not hellban, so that lifting a rule is all it takes to speak again)."""
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    owner = e2e.user(hs1, "owner")
    speaker = e2e.user(hs1, "speaker")
    listkeeper = e2e.user(hs2, "listkeeper")
    room_id = e2e.room(owner, [speaker, listkeeper], name=name)
    cid = e2e.community(name, {"hellban_postfilter_minutes": 0})
    list_room = listkeeper.create_room(room_version="12", name=f"{name} ban list")
    joined = pal.admin("POST", f"/rooms/{q(list_room)}/join", {"community_id": cid, "via": hs2.server_name})
    assert joined["join_state"] == "joined", joined
    pal.admin("PATCH", f"/communities/{q(cid)}", {"config": {"policy_list_room_ids": [list_room]}})
    assert pal.admin("GET", f"/communities/{q(cid)}/config")["effective"]["policy_list_room_ids"] == [list_room]
    e2e.protect(room_id, owner, cid, [listkeeper])
    return room_id, list_room, owner, speaker, listkeeper


def _until_refused(client: MatrixClient, room_id: str, timeout: float = 10.0) -> tuple[MatrixError, float]:
    t0 = time.monotonic()
    while True:
        try:
            client.send_message(room_id, f"probe {time.monotonic():.3f}")
        except MatrixError as e:
            return e, time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"{client.user_id} still speaks {timeout}s after the ban"
        time.sleep(0.2)


def _until_speaks(client: MatrixClient, room_id: str, timeout: float = 10.0) -> tuple[str, float]:
    t0 = time.monotonic()
    last: MatrixError | None = None
    while time.monotonic() - t0 < timeout:
        try:
            return client.send_message(room_id, "speaking again"), time.monotonic() - t0
        except MatrixError as e:
            last = e
            time.sleep(0.2)
    raise AssertionError(f"{client.user_id} still refused {timeout}s after the rule was lifted: {last}")


def test_policy_list(e2e: E2E) -> None:
    room_id, list_room, owner, speaker, listkeeper = _policy_list_room(e2e, "policy list")
    before = speaker.send_message(room_id, "before any ban")
    visible(listkeeper, room_id, before)

    listkeeper.set_state(list_room, "m.policy.rule.user",
                         {"entity": speaker.user_id, "recommendation": "m.ban", "reason": "e2e"}, state_key="rule1")
    error, took = _until_refused(speaker, room_id)
    assert_policy_refusal(error, HARM_OTHER)
    step(f"policy_list: m.policy.rule.user ban sent on hs2; {speaker.user_id} refused {took:.2f}s later "
         f"({error.status} {error.errcode} harms={error.json['harms']})")
    rules = e2e.pal.room_state(list_room)["policy_rules"]
    assert rules, rules

    listkeeper.set_state(list_room, "m.policy.rule.user", {}, state_key="rule1")
    event_id, took = _until_speaks(speaker, room_id)
    visible(listkeeper, room_id, event_id)
    step(f"policy_list: rule emptied; {speaker.user_id} speaks again {took:.2f}s later, visible on hs2")


def test_policy_list_rule_redaction(e2e: E2E) -> None:
    room_id, list_room, owner, speaker, listkeeper = _policy_list_room(e2e, "rule redaction")
    rule = listkeeper.set_state(list_room, "m.policy.rule.user",
                                {"entity": speaker.user_id, "recommendation": "m.ban", "reason": "e2e"},
                                state_key="rule1")
    error, took = _until_refused(speaker, room_id)
    assert_policy_refusal(error, HARM_OTHER)
    listkeeper.call("PUT", f"/_matrix/client/v3/rooms/{q(list_room)}/redact/{q(rule)}/{next(_names)}", {})
    event_id, took = _until_speaks(speaker, room_id, timeout=5)
    step(f"policy_list_rule_redaction: rule redacted; {speaker.user_id} speaks again {took:.2f}s later")


# -- 5. shadow mode ----------------------------------------------------------------------------------------------------
def test_shadow_mode(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "shadowed")
    bob = e2e.user(hs2, "shadowwatch")
    room_id = e2e.room(alice, [bob], name="shadow")
    cid = e2e.community("shadow", {"filter_modes": {"keyword": "shadow"}})
    e2e.protect(room_id, alice, cid, [bob])
    event_id = alice.send_message(room_id, f"would be refused: {SPAM}")
    visible(bob, room_id, event_id)
    verdicts = pal.admin("GET", f"/verdicts/{q(event_id)}")["verdicts"]
    assert len(verdicts) == 1 and verdicts[0]["class"] == "neutral" and not verdicts[0]["harms"], verdicts
    keyword = [t for t in verdicts[0]["trace"] if t["filter"] == "keyword"]
    assert keyword and keyword[0]["mode"] == "shadow" and keyword[0]["outcome"].lower() == "prohibited", verdicts[0]
    assert HARM_SPAM in keyword[0]["harms"], keyword
    # A shadowed prohibition starts no hellban: the sender speaks on.
    after = alice.send_message(room_id, "still here")
    visible(bob, room_id, after)
    step(f"shadow_mode: keyword in shadow mode let {event_id} through; decision log: class neutral, trace "
         f"keyword mode=shadow outcome=prohibited harms={keyword[0]['harms']} ({keyword[0]['reason']})")


# -- 6. history ----------------------------------------------------------------------------------------------------
def test_history(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "historian")
    carol = e2e.user(hs1, "chatter")
    room_id = e2e.room(alice, [carol], name="history")
    for i in range(3):
        alice.send_message(room_id, f"before the policy server {i}")
    e2e.protect(room_id, alice, e2e.community("history"))
    for i in range(12):
        (alice if i % 2 else carol).send_message(room_id, f"protected message {i}")
    alice.set_state(room_id, "m.room.topic", {"topic": "history topic"})
    refused(lambda: carol.send_message(room_id, SPAM))
    latest = alice.send_message(room_id, "the latest message")
    expected = event_ids(alice, room_id)

    counter = e2e.counter()
    bob = e2e.user(hs2, "latecomer", admin=True)  # sees policy-soft-failed events, flagged
    assert bob.join(room_id, via=[hs1.server_name]) == room_id
    visible(bob, room_id, latest)
    seen = all_events(bob, room_id)
    missing = expected - {e["event_id"] for e in seen}
    assert not missing, f"{len(missing)} of {len(expected)} events missing on hs2: {sorted(missing)[:5]}"
    flagged = [e["event_id"] for e in seen if e.get("unsigned", {}).get(SPAMMY_FLAG)]
    assert not flagged, f"soft-failed by the policy on hs2: {flagged}"
    bodies = [e.get("content", {}).get("body") for e in seen]
    assert SPAM not in bodies
    calls = counter.by_server()
    step(f"history: hs2 joined after {len(expected)} events and paginated back: all visible, none soft-failed; "
         f"/sign calls during the join and backfill {calls}")


# -- 7. consistency across restarts and instances ------------------------------------------------------------------------
def _ask(pal: Palisade, hs: Synapse, pdu: dict[str, Any]) -> tuple[int, Any]:
    status, body = pal.sign_as(hs, pdu)
    if status != 200:
        body = {k: body.get(k) for k in ("errcode", "harms", "expiry")}
    return status, body


def test_restart_consistency(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "steady")
    bob = e2e.user(hs2, "steady")
    room_id = e2e.room(alice, [bob], name="consistency")
    cid = e2e.community("consistency", {"hellban_postfilter_minutes": 0})
    e2e.protect(room_id, alice, cid, [bob])
    a = alice.send_message(room_id, "before the restart")
    visible(bob, room_id, a)
    template = federation_get(pal, hs1.federation_url, hs1.server_name,
                              f"/_matrix/federation/v1/event/{q(a)}")["pdus"][0]
    neutral, neutral_id = craft_event(hs1, template, {"msgtype": "m.text", "body": "crafted, neutral"})
    spam, spam_id = craft_event(hs1, template, {"msgtype": "m.text", "body": f"crafted {SPAM}"})
    asks = {"real": template, "neutral": neutral, "spam": spam}
    first = {name: _ask(pal, hs1, pdu) for name, pdu in asks.items()}
    assert first["real"][0] == 200 and first["neutral"][0] == 200 and first["spam"][0] == 400, first
    assert first["real"][1][pal.server_name][POLICY_KEY_ID] == template["signatures"][pal.server_name][POLICY_KEY_ID]

    t0 = time.monotonic()
    pal.stop()
    pal.start()
    step(f"restart_consistency: palisade restarted in {time.monotonic() - t0:.1f}s")
    b = bob.send_message(room_id, "after the restart, from hs2")
    c = alice.send_message(room_id, "after the restart, from hs1")
    visible(alice, room_id, b)
    visible(bob, room_id, c)
    again = {name: _ask(pal, hs1, pdu) for name, pdu in asks.items()}
    assert again == first, (first, again)
    from_hs2 = {name: _ask(pal, hs2, pdu) for name, pdu in asks.items()}
    assert from_hs2 == first, (first, from_hs2)

    # The keyword is dropped from the config: a new spam event now passes, the one already judged stays refused.
    pal.admin("PATCH", f"/communities/{q(cid)}", {"config": {"keyword_filter_keywords": ["something else"]}})
    fresh, _ = craft_event(hs1, template, {"msgtype": "m.text", "body": f"crafted later {SPAM}"})
    assert _ask(pal, hs1, fresh)[0] == 200
    after_change = {name: _ask(pal, hs1, pdu) for name, pdu in asks.items()}
    assert after_change == first, (first, after_change)
    assert len(pal.admin("GET", f"/verdicts/{q(spam_id)}")["verdicts"]) == 1
    step(f"restart_consistency: conversation continued after the restart; real/neutral/spam events asked again "
         f"after the restart, by hs2, and after a config change got the same answers "
         f"({ {k: v[0] for k, v in first.items()} })")


def _postgres_url() -> str | None:
    base = os.environ.get("PALISADE_INTEROP_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    if shutil.which("psql") is None:
        return None
    ok = subprocess.run(["psql", f"{base}/postgres", "-Atc", "select 1"], capture_output=True, timeout=10)
    return base if ok.returncode == 0 else None


def test_two_instances_postgres(e2e: E2E) -> None:
    base = _postgres_url()
    if base is None:
        pytest.skip("no PostgreSQL at PALISADE_INTEROP_POSTGRES_URL / postgres://postgres@127.0.0.1:5432")
    hs1, hs2, tb = e2e.hs1, e2e.hs2, e2e.testbed
    db = f"palisade_e2e_{os.getpid()}_{secrets.token_hex(4)}"
    subprocess.run(["psql", f"{base}/postgres", "-qc", f'CREATE DATABASE "{db}"'], check=True, capture_output=True)
    proxy_port = free_port()
    name = f"localhost:{proxy_port}"
    api_key = secrets.token_hex(16)
    pals: list[Palisade] = []
    proxy: RoundRobinProxy | None = None
    try:
        a = Palisade(tb, join_server=hs1.server_name, label="pg-a", api_key=api_key, database_url=f"{base}/{db}",
                     server_name=name)
        b = Palisade(tb, join_server=hs1.server_name, label="pg-b", api_key=api_key, database_url=f"{base}/{db}",
                     server_name=name, keys_dir=a.dir)
        pals += [a, b]
        e2e.cursors.update({"pg-a": LogCursor(a.log_file), "pg-b": LogCursor(b.log_file)})
        a.start()
        b.start()  # after a: it reads the keys a wrote
        proxy = RoundRobinProxy(proxy_port, [("127.0.0.1", a.reserved.port), ("127.0.0.1", b.reserved.port)]).start()
        step(f"two_instances_postgres: {name} = round robin over {a.url} and {b.url}, database {db}")

        alice = e2e.user(hs1, "pgalice")
        bob = e2e.user(hs2, "pgbob")
        room_id = e2e.room(alice, [bob], name="two instances")
        cid = a.admin("POST", "/communities/new", {"name": "two instances"})["community_id"]
        b.admin("PATCH", f"/communities/{q(cid)}", {"config": {"hellban_postfilter_minutes": 0}})
        e2e.protect(room_id, alice, cid, [bob], pal=b)
        counter = SignCounter(e2e.synapses, None, name)
        sent = [alice.send_message(room_id, f"hs1 via the proxy {i}") for i in range(3)]
        sent += [bob.send_message(room_id, f"hs2 via the proxy {i}") for i in range(3)]
        for event_id in sent[:3]:
            visible(bob, room_id, event_id)
        for event_id in sent[3:]:
            visible(alice, room_id, event_id)
        assert counter.by_server() == {"hs1": 3, "hs2": 3}, counter.by_server()
        spam_refused = refused(lambda: alice.send_message(room_id, SPAM))
        assert_policy_refusal(spam_refused, HARM_SPAM)

        # The same events asked of both instances at once: one answer each, one stored verdict each.
        template = federation_get(a, hs1.federation_url, hs1.server_name,
                                  f"/_matrix/federation/v1/event/{q(sent[0])}")["pdus"][0]
        events = [craft_event(hs1, template, {"msgtype": "m.text", "body": body})
                  for body in ("concurrent neutral", f"concurrent {SPAM}")]
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            jobs = {(event_id, i): pool.submit(_ask, (a, b)[i % 2], (hs1, hs2)[i % 3 % 2], pdu)
                    for pdu, event_id in events for i in range(8)}
            answers = {key: job.result() for key, job in jobs.items()}
        for pdu, event_id in events:
            distinct = {repr(answers[(event_id, i)]) for i in range(8)}
            assert len(distinct) == 1, (event_id, distinct)
            stored = a.admin("GET", f"/verdicts/{q(event_id)}")["verdicts"]
            assert len(stored) == 1, stored
        statuses = [answers[(event_id, 0)][0] for _, event_id in events]
        assert statuses == [200, 400], statuses

        # A config change made through b; a keeps answering the refused event the same way.
        b.admin("PATCH", f"/communities/{q(cid)}", {"config": {"keyword_filter_keywords": ["something else"]}})
        spam_pdu, spam_id = events[1]
        assert _ask(a, hs1, spam_pdu) == answers[(spam_id, 0)]
        assert _ask(b, hs2, spam_pdu) == answers[(spam_id, 0)]
        step(f"two_instances_postgres: 6 messages signed through the proxy (backend connections "
             f"{proxy.connections}); 2 events x 8 concurrent asks on both instances -> one answer and one stored "
             f"verdict each ({statuses}); unchanged after a config change made on the other instance")
    finally:
        if proxy:
            proxy.stop()
        for pal in pals:
            pal.stop()
        subprocess.run(["psql", f"{base}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                       capture_output=True, timeout=30)


# -- 8. escape hatch ------------------------------------------------------------------------------------------------------
def test_escape_hatch(e2e: E2E) -> None:
    hs1, hs2, pal = e2e.hs1, e2e.hs2, e2e.pal
    alice = e2e.user(hs1, "hatch")
    bob = e2e.user(hs2, "hatch")
    room_id = e2e.room(alice, [bob], name="escape hatch")
    key = e2e.protect(room_id, alice, e2e.community("escape"), [bob])

    # `{}`: the policy server is off for everyone, without asking it.
    alice.set_state(room_id, "m.room.policy", {})
    wait_until("hs2 has the empty policy", lambda: state_or_none(bob, room_id, "m.room.policy") == {}, 15)
    counter = e2e.counter()
    a = alice.send_message(room_id, f"no policy server: {SPAM}")
    b = bob.send_message(room_id, "no policy server, from hs2")
    visible(bob, room_id, a)
    visible(alice, room_id, b)
    calls = counter.by_server()
    assert calls == {"hs1": 0, "hs2": 0} and counter.total() == 0, (calls, counter.total())
    step(f"escape_hatch: m.room.policy {{}} -> messages (even '{SPAM}') flow both ways, /sign calls {calls}")

    policy = {"via": pal.server_name, "public_keys": {"ed25519": key}}
    alice.set_state(room_id, "m.room.policy", policy)
    wait_until("hs2 has the policy again", lambda: state_or_none(bob, room_id, "m.room.policy") == policy, 15)
    visible(bob, room_id, alice.send_message(room_id, "protected again"))

    # Palisade down: Synapse fails closed, and fast.
    pal.stop()
    try:
        timings = []
        for client in (alice, bob):
            t0 = time.monotonic()
            error = refused(lambda c=client: c.send_message(room_id, "while palisade is down"))
            timings.append(time.monotonic() - t0)
            assert error.status >= 500, error.body
        assert max(timings) < 5.0, timings
        step(f"escape_hatch: palisade stopped -> hs1's client got an error after {timings[0] * 1000:.0f} ms, "
             f"hs2's after {timings[1] * 1000:.0f} ms ({error.status} {error.errcode})")
    finally:
        t0 = time.monotonic()
        pal.start()
    event_id, took = _until_speaks(alice, room_id, timeout=30)
    visible(bob, room_id, event_id)
    visible(alice, room_id, bob.send_message(room_id, "back, from hs2"))
    for client in (alice, bob):
        assert "while palisade is down" not in [e.get("content", {}).get("body") for e in all_events(client, room_id)]
    step(f"escape_hatch: palisade back -> messages flow again {time.monotonic() - t0:.1f}s after its start "
         f"(first send OK {took:.2f}s after it was serving)")


# -- latency ---------------------------------------------------------------------------------------------------------------
def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def test_latency(e2e: E2E) -> None:
    hs1, hs2 = e2e.hs1, e2e.hs2
    alice = e2e.user(hs1, "timer")
    bob = e2e.user(hs2, "timer")
    protected = e2e.room(alice, [bob], name="latency, protected")
    e2e.protect(protected, alice, e2e.community("latency"), [bob])
    plain = e2e.room(alice, [bob], name="latency, no policy server")
    rooms = {"protected": protected, "plain": plain}
    samples: dict[str, list[float]] = {"protected": [], "plain": []}
    for i in range(5):  # warm-up, not counted
        for room_id in rooms.values():
            alice.send_message(room_id, f"warm-up {i}")
    for i in range(100):  # interleaved, so both rooms see the same load
        for kind, room_id in rooms.items():
            t0 = time.perf_counter()
            alice.send_message(room_id, f"latency sample {i}")
            samples[kind].append((time.perf_counter() - t0) * 1000)
    med = {k: statistics.median(v) for k, v in samples.items()}
    p95 = {k: _percentile(v, 95) for k, v in samples.items()}
    line = (f"LATENCY (hs1 client, PUT /send, 100 messages each): with policy server median {med['protected']:.1f} ms"
            f" p95 {p95['protected']:.1f} ms | without median {med['plain']:.1f} ms p95 {p95['plain']:.1f} ms | "
            f"added by Palisade: median {med['protected'] - med['plain']:+.1f} ms, "
            f"p95 {p95['protected'] - p95['plain']:+.1f} ms")
    record_latency(line)
    step(line)
    assert len(samples["protected"]) == len(samples["plain"]) == 100
