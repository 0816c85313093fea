"""Independent check of Palisade's protocol core with Matrix's Python reference libraries.

Reads a JSON document of cases on stdin, computes the same values with canonicaljson + signedjson (and a
redaction written here from the spec, for room versions 11 and 12), and writes the results as JSON on stdout.
"""

import base64
import hashlib
import json
import sys

from canonicaljson import encode_canonical_json
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json

# Spec "Redactions", room versions 11 and 12.
KEPT_TOP_LEVEL = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
    "prev_events", "auth_events", "origin_server_ts",
}
KEPT_CONTENT = {
    "m.room.member": {"membership", "join_authorised_via_users_server", "third_party_invite"},
    "m.room.join_rules": {"join_rule", "allow"},
    "m.room.power_levels": {"ban", "events", "events_default", "invite", "kick", "redact", "state_default",
                            "users", "users_default"},
    "m.room.history_visibility": {"history_visibility"},
    "m.room.redaction": {"redacts"},
}


def b64(data, urlsafe=False):
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode().rstrip("=")


def redact(event):
    redacted = {k: v for k, v in event.items() if k in KEPT_TOP_LEVEL}
    kind = event["type"]
    if kind == "m.room.create":
        return redacted  # v11+: the whole create content is kept
    keep = KEPT_CONTENT.get(kind, set())
    content = {k: v for k, v in event.get("content", {}).items() if k in keep}
    if kind == "m.room.member" and "third_party_invite" in content:
        content["third_party_invite"] = {"signed": content["third_party_invite"].get("signed")}
    redacted["content"] = content
    return redacted


def content_hash(event):
    stripped = {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
    return b64(hashlib.sha256(encode_canonical_json(stripped)).digest())


def reference_hash(event):
    stripped = {k: v for k, v in redact(event).items() if k not in ("unsigned", "signatures")}
    return b64(hashlib.sha256(encode_canonical_json(stripped)).digest(), urlsafe=True)


def verifies(event, server, key_id, public_key_b64):
    key = decode_verify_key_bytes(key_id, base64.b64decode(public_key_b64 + "=" * (-len(public_key_b64) % 4)))
    try:
        verify_signed_json(redact(event), server, key)
        return True
    except SignatureVerifyException:
        return False


def check_event(case):
    event = case["event"]
    result = {
        "content_hash": content_hash(event),
        "event_id": "$" + reference_hash(event),
        "origin_signature_ok": verifies(event, case["origin"], case["origin_key_id"], case["origin_public_key"]),
    }
    if event["type"] == "m.room.create":
        result["room_id"] = "!" + reference_hash(event)
    if "policy_server" in case:
        result["policy_signature_ok"] = verifies(
            event, case["policy_server"], "ed25519:policy_server", case["policy_public_key"])
    return result


def main():
    cases = json.load(sys.stdin)
    out = {
        "canonical": [encode_canonical_json(json.loads(text)).decode() for text in cases["canonical"]],
        "events": [check_event(case) for case in cases["events"]],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
