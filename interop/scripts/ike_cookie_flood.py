"""IKE_SA_INIT flood that completes the COOKIE round (RFC 7296 section 2.6).

Used by interop/tests/scenario_insider_mesh.rs (issue 14 item 8). Run inside an enrolled
NVE's namespace, from its own address (no spoofing). Standard library only.

Usage: ike_cookie_flood.py SRC_IP SRC_PORT DST_IP DST_PORT GAP_S DEADLINE_S
stdin: one IKE_SA_INIT request per line, in hex, each with its own SPIi.

Sends each request GAP_S apart; answers every N(COOKIE) response (matched by SPIi) once,
with the request resent behind the N(COOKIE) payload; never sends IKE_AUTH, so every
request the responder accepts stays half-open there. Stops after the last request plus a
0.5 s drain, and in any case after DEADLINE_S. Prints one JSON object with the figures.
"""
import json
import select
import socket
import struct
import sys
import time

N_COOKIE = 16390
PT_SA, PT_NOTIFY = 33, 41


def payloads(d):
    """(type, body) of each payload of an IKE message, as far as it parses."""
    out = []
    if len(d) < 28:
        return out
    np, off = d[16], 28
    while np != 0 and off + 4 <= len(d):
        nxt = d[off]
        plen = struct.unpack(">H", d[off + 2:off + 4])[0]
        if plen < 4 or off + plen > len(d):
            break
        out.append((np, d[off + 4:off + plen]))
        np, off = nxt, off + plen
    return out


def with_cookie(m, cookie):
    """m with N(COOKIE) as its first payload (section 2.6) and the Length fixed."""
    notify = bytes([m[16], 0]) + struct.pack(">H", 8 + len(cookie))
    notify += bytes([0, 0]) + struct.pack(">H", N_COOKIE) + cookie
    length = struct.pack(">I", len(m) + len(notify))
    return m[:16] + bytes([PT_NOTIFY]) + m[17:24] + length + notify + m[28:]


def main():
    src_ip, src_port, dst_ip, dst_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    gap, deadline = float(sys.argv[5]), float(sys.argv[6])
    msgs = [bytes.fromhex(l.strip()) for l in sys.stdin if l.strip()]
    by_spi = {m[:8]: m for m in msgs}
    dst = (dst_ip, dst_port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src_ip, src_port))
    s.setblocking(False)
    st = {"requests": 0, "cookies": 0, "with_cookie": 0, "sa_answers": 0, "other": 0}
    answered = set()
    start = time.monotonic()
    end = start + deadline
    next_send, i, last_send = start, 0, start
    while True:
        now = time.monotonic()
        if now >= end or (i >= len(msgs) and now >= last_send + 0.5):
            break
        if i < len(msgs) and now >= next_send:
            s.sendto(msgs[i], dst)
            i += 1
            st["requests"] += 1
            last_send = now
            next_send += gap
            continue
        wait = (next_send if i < len(msgs) else last_send + 0.5) - now
        r, _, _ = select.select([s], [], [], max(0.0, min(wait, end - now)))
        if not r:
            continue
        while True:
            try:
                d, _ = s.recvfrom(65535)
            except BlockingIOError:
                break
            ps = payloads(d)
            cookie = None
            for t, body in ps:
                if t == PT_NOTIFY and len(body) >= 4 and struct.unpack(">H", body[2:4])[0] == N_COOKIE:
                    cookie = body[4:]
            spi = d[:8]
            if cookie is not None and spi in by_spi:
                st["cookies"] += 1
                if spi not in answered:
                    answered.add(spi)
                    s.sendto(with_cookie(by_spi[spi], cookie), dst)
                    st["with_cookie"] += 1
            elif any(t == PT_SA for t, _ in ps):
                st["sa_answers"] += 1
            else:
                st["other"] += 1
    st["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(st), flush=True)


main()
