#!/usr/bin/env python3
"""zipf_cache.py — a cache-aside client with Zipf-distributed keys; prints the hit ratio.

Each round pipelines BATCH GETs of keys drawn from a Zipf(s) distribution over KEYS keys
(the most popular key first, as YCSB's zipfian generator), then SETs every key that
missed, as an application does with a cache in front of a database. With maxmemory set,
the server's eviction policy decides which keys stay, so the hit ratio measures how well
it keeps the popular ones. Standard library only.

usage: zipf_cache.py PORT [--ops N] [--keys K] [--s S] [--value-bytes B] [--seed X]
"""
import argparse
import bisect
import random
import socket


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest

    def pipeline(self, commands):
        self.sock.sendall(b"".join(commands))
        return [self.reply() for _ in commands]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--ops", type=int, default=400000)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--s", type=float, default=0.99)
    ap.add_argument("--value-bytes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=200)
    a = ap.parse_args()
    weights = [1.0 / (i + 1) ** a.s for i in range(a.keys)]
    cdf, total = [], 0.0
    for w in weights:
        total += w
        cdf.append(total)
    rng = random.Random(a.seed)
    # Popularity must not follow key order (shards and hash tables see random names).
    names = [b"key:%d" % rng.getrandbits(48) for _ in range(a.keys)]
    value = b"v" * a.value_bytes
    conn = Conn(a.port)
    hits = gets = 0
    while gets < a.ops:
        keys = [names[bisect.bisect_left(cdf, rng.random() * total)] for _ in range(a.batch)]
        replies = conn.pipeline([encode(b"GET", k) for k in keys])
        misses = [k for k, r in zip(keys, replies) if r is None]
        gets += len(keys)
        hits += len(keys) - len(misses)
        if misses:
            conn.pipeline([encode(b"SET", k, value) for k in misses])
    print("%.4f" % (hits / gets))


if __name__ == "__main__":
    main()
