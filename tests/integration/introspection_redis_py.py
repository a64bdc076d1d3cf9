#!/usr/bin/python3
"""redis-py's view of a server's SLOWLOG, MEMORY USAGE and CLIENT PAUSE
(introspection_test runs it on Darter; it passes on redis-server 7.0 too). Exits non-zero,
saying why, when a reply is not what redis-py should read."""
import sys
import time

import redis

r = redis.Redis(port=int(sys.argv[1]), socket_timeout=5)
r.config_set("slowlog-log-slower-than", 0)
r.slowlog_reset()
r.client_setname("pyclient")
r.set("k", "v" * 200)
entries = r.slowlog_get(-1)
problems = []
commands = [e["command"] for e in entries]
want = [b"SET k " + b"v" * 128 + b"... (72 more bytes)", b"CLIENT SETNAME pyclient",
        b"SLOWLOG RESET"]
if commands != want:
    problems.append("commands %r, want %r" % (commands, want))
if r.slowlog_len() != 4:  # the three, and SLOWLOG GET
    problems.append("slowlog_len %d, want 4" % r.slowlog_len())
ids = [e["id"] for e in entries]
if ids != sorted(ids, reverse=True) or len(set(ids)) != len(ids):
    problems.append("ids not newest first: %r" % ids)
for e in entries:
    if not isinstance(e["start_time"], int) or e["start_time"] < 1600000000 or e["duration"] < 0:
        problems.append("bad fields %r" % e)
    # Newer redis-py versions also read the client fields.
    if "client_name" in e and e["command"].startswith(b"SET") and e["client_name"] != b"pyclient":
        problems.append("bad client name %r" % e)
if len(r.slowlog_get(2)) != 2:
    problems.append("slowlog_get(2) did not return 2 entries")

# MEMORY USAGE: the value's bytes and then some; None for a missing key.
usage = r.memory_usage("k")
if not isinstance(usage, int) or usage < 200 or usage > 4096:
    problems.append("memory_usage(k) %r, want 200..4096" % usage)
if r.memory_usage("missing") is not None:
    problems.append("memory_usage(missing) %r, want None" % r.memory_usage("missing"))

# CLIENT PAUSE WRITE: another client's write waits for the pause to end; reads go on.
other = redis.Redis(port=int(sys.argv[1]), socket_timeout=5)
if r.client_pause(300, all=False) is not True:
    problems.append("client_pause did not return True")
start = time.monotonic()
if other.get("k") != b"v" * 200:
    problems.append("GET during a write pause did not answer")
read_ms = (time.monotonic() - start) * 1000
start = time.monotonic()
other.set("after", "1")
write_ms = (time.monotonic() - start) * 1000
if read_ms > 150 or write_ms < 150:
    problems.append("pause: read took %.0f ms, write %.0f ms (want fast read, held write)" % (read_ms, write_ms))
if not r.client_unpause():
    problems.append("client_unpause failed")

if problems:
    print("\n".join(problems))
    sys.exit(1)
