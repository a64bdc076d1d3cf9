#!/usr/bin/env python3
"""Hostile-client campaign against a running darter-server (driven by
scripts/hostile-campaign.sh, which starts the server on a free loopback port).

Many connections send mutated RESP for a fixed time: pipelined bursts of valid commands
with some bytes broken, huge or negative counts and lengths, bulks declared big and
trickled, oversized and unbalanced inline requests, clients that flood without reading,
subscribers that never read, and plain garbage. A watchdog client PINGs every 100 ms
and records the latency; a sampler records the server's RSS. Reports the figures and
exits non-zero on a crash (the process is gone) or a stall (a PING slower than
--max-stall seconds, or unanswered).

Deterministic per (--seed, worker, connection number); loopback only; every loop is
bounded by the deadline.
"""
import argparse
import os
import random
import socket
import sys
import threading
import time

KEYS = [b"k%d" % i for i in range(200)]
BIG = b"v" * 65536


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def random_command(rng):
    k = rng.choice(KEYS)
    v = rng.choice([b"x", b"12", b"-3", b"hello world", b"v" * rng.randint(0, 2048), b"\x00\xff\r\n"])
    choices = [
        [b"SET", k, v], [b"GET", k], [b"DEL", k], [b"INCR", k], [b"APPEND", k, v[:64]],
        [b"LPUSH", b"l" + k, v], [b"LRANGE", b"l" + k, b"0", b"-1"], [b"LTRIM", b"l" + k, b"0", b"50"],
        [b"HSET", b"h" + k, v[:16], v], [b"HGETALL", b"h" + k], [b"SADD", b"s" + k, v[:32]],
        [b"ZADD", b"z" + k, b"%d" % rng.randint(-9, 9), v[:32]], [b"ZRANGE", b"z" + k, b"0", b"-1"],
        [b"MSET", k, v, rng.choice(KEYS), v], [b"MGET", k, rng.choice(KEYS)], [b"EXPIRE", k, b"1"],
        [b"PING"], [b"ECHO", v], [b"PUBLISH", b"ch", v], [b"XADD", b"x" + k, b"MAXLEN", b"50", b"*", b"f", v[:32]],
        [b"MULTI"], [b"EXEC"], [b"DISCARD"], [b"WATCH", k], [b"EVAL", b"return #ARGV", b"0", v[:8]],
        [b"BLPOP", b"l" + k, b"0.05"], [b"CLIENT", b"SETNAME", b"c"], [b"SELECT", b"%d" % rng.randint(0, 3)],
        [b"HELLO", rng.choice([b"2", b"3"])], [b"OBJECT", b"ENCODING", k], [b"TYPE", k], [b"SCAN", b"0"],
        [b"NOSUCHCMD", v[:8]], [b"GETRANGE", k, b"0", b"-1"], [b"SETRANGE", k, b"%d" % rng.randint(0, 4096), b"z"],
    ]
    return encode(rng.choice(choices))


TOKENS = [b"\r\n", b"\r", b"\n", b"*", b"$", b"0", b"-1", b"-5", b"1048577", b"2147483648",
          b"536870913", b"99999999999999999999", b"\x00", b"\"", b"'", b" ", b"\\x4", b"+", b":"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            at = rng.randint(0, len(data))
            data[at:at] = rng.choice(TOKENS)
        elif op == 3 and data:
            at = rng.randrange(len(data))
            del data[at:at + rng.randint(1, 16)]
        elif op == 4 and data:
            at = rng.randrange(len(data))
            data[at:at] = data[at:at + rng.randint(1, 64)]
        else:
            del data[rng.randint(0, len(data)):]
    return bytes(data)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.closed_by_server = 0
        self.kinds = {}

    def add(self, kind, sent, received, closed):
        with self.lock:
            self.connections += 1
            self.bytes_sent += sent
            self.bytes_received += received
            self.closed_by_server += int(closed)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


def drain(sock, until, keep=False):
    """Reads until `until` (monotonic) or EOF; returns (bytes read, closed)."""
    got = 0
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return got, False
        sock.settimeout(left)
        try:
            d = sock.recv(262144)
        except socket.timeout:
            return got, False
        except OSError:
            return got, True
        if not d:
            return got, True
        got += len(d)


def send(sock, data, until):
    sock.settimeout(max(0.01, until - time.monotonic()))
    try:
        sock.sendall(data)
        return len(data), True
    except (socket.timeout, OSError):
        return 0, False


def one_connection(rng, port, deadline, stats):
    kind = rng.choices(["burst", "mutated", "slow-bulk", "noread", "subscriber", "garbage", "inline", "counts"],
                       weights=[30, 30, 6, 6, 6, 8, 8, 6])[0]
    until = min(deadline, time.monotonic() + rng.uniform(0.2, 2.0))
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return
    sent = received = 0
    closed = False
    try:
        if kind in ("burst", "mutated"):
            while time.monotonic() < until and not closed:
                batch = b"".join(
                    mutate(rng, random_command(rng)) if kind == "mutated" and rng.random() < 0.3 else random_command(rng)
                    for _ in range(rng.randint(1, 200)))
                n, ok = send(sock, batch, until)
                sent += n
                r, closed = drain(sock, min(until, time.monotonic() + 0.05))
                received += r
                closed = closed or not ok
        elif kind == "slow-bulk":
            n, _ = send(sock, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % rng.choice([536870912, 100000000, 1048576]), until)
            sent += n
            while time.monotonic() < until:
                n, ok = send(sock, b"x" * rng.randint(1, 64), until)
                sent += n
                if not ok:
                    break
                time.sleep(0.1)
        elif kind == "noread":
            sock.sendall(encode([b"SET", b"big", BIG]))
            flood = encode([b"GET", b"big"]) * 200
            while time.monotonic() < until:
                n, ok = send(sock, flood, min(until, time.monotonic() + 0.2))
                sent += n
                if not ok:
                    break
        elif kind == "subscriber":
            n, _ = send(sock, encode([b"SUBSCRIBE", b"ch"]), until)
            sent += n
            time.sleep(max(0, until - time.monotonic()))  # never reads
        elif kind == "garbage":
            while time.monotonic() < until and not closed:
                n, ok = send(sock, rng.randbytes(rng.randint(1, 4096)), until)
                sent += n
                r, closed = drain(sock, min(until, time.monotonic() + 0.05))
                received += r
                closed = closed or not ok
        elif kind == "inline":
            line = rng.choice([b"SET a \"unbalanced\r\n", b"x" * 70000, b"GET 'a\r\n", b"PING\r\n" * 500,
                               b"SET \"a\\x4g\" b\r\n", b"\r\n\r\n\r\n"])
            n, _ = send(sock, line, until)
            sent += n
            r, closed = drain(sock, until)
            received += r
        else:  # counts
            head = rng.choice([b"*20000000\r\n", b"*-7\r\n", b"*1048577\r\n", b"*2\r\n$-1\r\n", b"*1\r\n$536870913\r\n",
                               b"*1\r\n$1\r\nxx\r\n", b"*3\r\n$3\r\nSET\r\n", b"*1\r\n" + b"$" + b"9" * 70000])
            n, _ = send(sock, head, until)
            sent += n
            r, closed = drain(sock, until)
            received += r
    finally:
        sock.close()
    stats.add(kind, sent, received, closed)


def worker(index, args, deadline, stats):
    rng = random.Random(args.seed * 1000003 + index)
    while time.monotonic() < deadline:
        one_connection(random.Random(rng.getrandbits(64)), args.port, deadline, stats)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def rss_bytes(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--conns", type=int, default=32, help="concurrent hostile connections")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-stall", type=float, default=1.0)
    args = p.parse_args()

    start = time.monotonic()
    deadline = start + args.minutes * 60
    stats = Stats()
    workers = [threading.Thread(target=worker, args=(i, args, deadline, stats), daemon=True) for i in range(args.conns)]
    for t in workers:
        t.start()

    latencies = []
    failures = []
    peak_rss = 0
    crashed = False
    watchdog = None
    next_report = start + 30
    while time.monotonic() < deadline:
        tick = time.monotonic()
        peak_rss = max(peak_rss, rss_bytes(args.pid))
        if not alive(args.pid):
            crashed = True
            break
        try:
            if watchdog is None:
                watchdog = socket.create_connection(("127.0.0.1", args.port), timeout=args.max_stall * 5)
            t0 = time.monotonic()
            watchdog.settimeout(args.max_stall * 5)
            watchdog.sendall(b"PING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                d = watchdog.recv(64)
                if not d:
                    raise OSError("watchdog connection closed")
                reply += d
            latencies.append(time.monotonic() - t0)
            if reply != b"+PONG\r\n":
                failures.append("PING got %r" % reply)
        except OSError as e:
            failures.append("watchdog PING failed at %.1f s: %s" % (time.monotonic() - start, e))
            latencies.append(time.monotonic() - tick)
            if watchdog is not None:
                watchdog.close()
            watchdog = None
        if time.monotonic() > next_report:
            next_report += 30
            print("  %.0f s: %d connections, max PING %.1f ms, peak RSS %.1f MB" % (
                time.monotonic() - start, stats.connections, max(latencies) * 1000, peak_rss / 2**20), flush=True)
        time.sleep(max(0, 0.1 - (time.monotonic() - tick)))
    for t in workers:
        t.join(timeout=5)
    crashed = crashed or not alive(args.pid)

    lat = sorted(latencies) or [0]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    stalls = [l for l in latencies if l > args.max_stall]
    print("hostile campaign: %.1f min, %d connections (%s)" % (
        (time.monotonic() - start) / 60, stats.connections,
        ", ".join("%s %d" % kv for kv in sorted(stats.kinds.items()))))
    print("  sent %.1f MB, received %.1f MB, %d connections closed by the server" % (
        stats.bytes_sent / 2**20, stats.bytes_received / 2**20, stats.closed_by_server))
    print("  watchdog: %d PINGs, max %.1f ms, p99 %.1f ms, %d over %.1f s, %d failures" % (
        len(latencies), lat[-1] * 1000, p99 * 1000, len(stalls), args.max_stall, len(failures)))
    print("  peak RSS %.1f MB, final RSS %.1f MB, server %s" % (
        peak_rss / 2**20, rss_bytes(args.pid) / 2**20, "CRASHED" if crashed else "alive"))
    for f in failures[:10]:
        print("  " + f)
    if crashed or stalls or failures:
        print("hostile campaign: FAILED")
        return 1
    print("hostile campaign: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
