"""Command-line test bed for drivers that are not Python (e.g. Rust integration tests).

    tests/interop/testbed [--synapses hs1,hs2] [--reserve palisade] [--user alice] [--dir DIR] [--keep]

Starts the Synapses, registers one admin user per server (``--user``, default ``admin``), reserves a port and a
certificate per ``--reserve`` label, then prints ONE line of JSON on stdout::

    {"run_dir":…, "ca_cert":…, "ca_key":…,
     "synapses": {"hs1": {"server_name":"localhost:P", "client_url":…, "federation_url":…, "log_file":…,
                           "registration_shared_secret":…, "users": {"admin": {"user_id":…, "access_token":…}}, …}},
     "reserved": {"palisade": {"port":P, "server_name":"localhost:P", "cert":…, "key":…, "chain":…}}}

and keeps everything running until its stdin closes (unless ``--ignore-stdin``) or it gets SIGTERM/SIGINT/SIGHUP; then it stops every Synapse
and exits 0. Progress and errors go to stderr. The run directory is removed at exit unless ``--keep`` (or
PALISADE_INTEROP_KEEP=1) or startup failed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .testbed import Testbed


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tests/interop/testbed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synapses", default="hs1,hs2", help="comma-separated server labels (default hs1,hs2)")
    ap.add_argument("--reserve", action="append", default=[], help="label for a third server's port+cert")
    ap.add_argument("--user", action="append", default=None, help="admin user to register on each Synapse")
    ap.add_argument("--dir", default=None, help="run directory (default: a fresh /tmp/palisade-interop-*)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory at exit")
    ap.add_argument("--ignore-stdin", action="store_true", help="stop only on a signal, not on stdin EOF")
    ap.add_argument("--timeout", type=float, default=120.0, help="startup timeout per server, seconds")
    args = ap.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    tb = Testbed(args.dir, keep=args.keep or None)
    failed = True
    try:
        names = [n for n in args.synapses.split(",") if n]
        print(f"testbed: starting {', '.join(names)} in {tb.dir}", file=sys.stderr, flush=True)
        servers = tb.start_synapses(*names, timeout=args.timeout)
        for label in args.reserve:
            tb.reserve(label)
        info = tb.describe()
        for hs in servers:
            users = {}
            for localpart in args.user or ["admin"]:
                c = hs.register_user(localpart, admin=True)
                users[localpart] = {"user_id": c.user_id, "access_token": c.access_token, "device_id": c.device_id}
            info["synapses"][hs.name]["users"] = users
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        print("testbed: ready; close stdin or send SIGTERM to stop", file=sys.stderr, flush=True)

        def wait_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()

        if not args.ignore_stdin:
            threading.Thread(target=wait_stdin, daemon=True).start()
        while not stop.wait(0.5):
            for hs in servers:
                if not hs.running:
                    print(f"testbed: {hs.name} exited unexpectedly\n{hs.log_tail()}", file=sys.stderr, flush=True)
                    return 1
        failed = False
        return 0
    except Exception as e:  # noqa: BLE001 - report and clean up
        print(f"testbed: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        tb.close(failed=failed)
        print("testbed: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
