#!/usr/bin/env python3
"""mptcp_client.py PORT TX_HEX HOLD_SECONDS

A stock-like peer (tests/interop/stacks_peer.py, a plain TCP client written from
PROTOCOL.md) for tests/integration/mptcp_test.cpp: it dials the relay on
127.0.0.1:PORT, handshakes, prints "protocol N" (its socket's SO_PROTOCOL: 262 when
`mptcpize run` made it an MPTCP socket, 6 otherwise), pushes the transaction, keeps the
connection HOLD_SECONDS, and exits 0. Any failure exits 1 with the reason on stderr.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import stacks_peer as sp  # noqa: E402


def main() -> int:
    port, tx, hold = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), float(sys.argv[3])
    peer = sp.StacksPeer("mptcp-client")
    try:
        peer.connect("127.0.0.1", port, timeout=5.0)
        proto = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
        peer.handshake(timeout=5.0)
        print(f"protocol {proto}", flush=True)
        peer.push_transaction(tx)
        time.sleep(hold)
    except Exception as e:  # noqa: BLE001 - report whatever went wrong, then fail
        print(f"mptcp_client: {e}", file=sys.stderr)
        return 1
    finally:
        peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
