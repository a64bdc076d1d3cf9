#!/usr/bin/env bash
# The Debian package as a user gets it. cpack builds it from this build tree; its control
# data and files are checked; then, as root (CI), it is installed with dpkg, darter-server
# is started from the installed binary and /etc/darter/darter.conf as the darter user,
# serves a client, saves into /var/lib/darter on SIGTERM, and the package is purged.
# Without root, or with DARTER_TEST_NO_DPKG=1, or when a darter package is already
# installed (never replaced by a test), the package is extracted and run from there.
#
# usage: package_install_test.sh <build dir> <cpack>
set -euo pipefail
build=$1
cpack=${2:-cpack}
work=$(mktemp -d /tmp/darter-package-XXXXXX)
pid=""
installed_by_test=0
user_created=0
state_created=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  if ((installed_by_test)); then
    dpkg --purge darter >/dev/null 2>&1 || true
    ((state_created)) && rm -rf /var/lib/darter
    ((user_created)) && userdel darter 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package_install_test: FAIL: $*" >&2; exit 1; }

"$cpack" -G DEB -B "$work/pkg" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/pkg/darter_*.deb)
echo "package_install_test: built $(basename "$deb")"

# Control data and contents.
[[ "$(dpkg-deb -f "$deb" Package)" == darter ]] || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q 'libssl3' || fail "shared-library dependencies missing"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/darter-server ./usr/bin/darter-migrate ./usr/bin/darter-rdb ./etc/darter/darter.conf \
         ./lib/systemd/system/darter-server.service; do
  grep -q " $f\$" <<<"$contents" || fail "$f not in the package"
done
# Listings are read whole before grep -q looks at them: with pipefail, grep -q leaving
# early would fail the pipeline on the writer's SIGPIPE.
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
grep -qx /etc/darter/darter.conf <<<"$conffiles" || fail "darter.conf is not a conffile"
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for s in postinst prerm postrm; do grep -qx "./$s" <<<"$control" || fail "no $s"; done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mode=extract
if [[ "$(id -u)" == 0 && "${DARTER_TEST_NO_DPKG:-0}" != 1 ]] && ! dpkg -s darter >/dev/null 2>&1; then mode=dpkg; fi

if [[ $mode == dpkg ]]; then
  getent passwd darter >/dev/null || user_created=1
  [[ -d /var/lib/darter ]] || state_created=1
  installed_by_test=1
  dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
  [[ -x /usr/bin/darter-server && -f /etc/darter/darter.conf && -f /lib/systemd/system/darter-server.service ]] ||
    fail "installed files missing"
  getent passwd darter >/dev/null || fail "postinst did not create the darter user"
  [[ "$(stat -c %U /var/lib/darter)" == darter ]] || fail "/var/lib/darter is not the darter user's"
  /usr/bin/darter-server --version | grep -q '^Darter server v=' || fail "--version"
  # As the unit runs it (in the foreground, as darter), with the test's port.
  runuser -u darter -- /usr/bin/darter-server /etc/darter/darter.conf --daemonize no --port "$port" \
    >"$work/server.log" 2>&1 &
  pid=$!
  data=/var/lib/darter
else
  mkdir -p "$work/root" "$work/data"
  dpkg-deb -x "$deb" "$work/root"
  "$work/root/usr/bin/darter-server" "$work/root/etc/darter/darter.conf" --daemonize no --port "$port" \
    --dir "$work/data" >"$work/server.log" 2>&1 &
  pid=$!
  data=$work/data
fi
echo "package_install_test: mode $mode, darter-server pid $pid on port $port"

for _ in $(seq 100); do
  [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; fail "darter-server exited"; }
  sleep 0.1
done
[[ "$(redis-cli -p "$port" PING)" == PONG ]] || { cat "$work/server.log"; fail "no PONG"; }
[[ "$(redis-cli -p "$port" SET packaged yes)" == OK ]] || fail "SET"
[[ "$(redis-cli -p "$port" GET packaged)" == yes ]] || fail "GET"
[[ "$(redis-cli -p "$port" CONFIG GET dir | tail -1)" == "$(readlink -f "$data")" ]] || fail "dir is not $data"
[[ "$(redis-cli -p "$port" CONFIG GET save | tail -1)" == "3600 1 300 100 60 10000" ]] || fail "save schedule"
# SIGTERM saves (the configuration's schedule) before the process ends.
kill "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "darter-server did not stop on SIGTERM"
pid=""
[[ -s "$data/dump.rdb" ]] || { cat "$work/server.log"; fail "no dump.rdb in $data after SIGTERM"; }
if [[ $mode == dpkg ]]; then
  dpkg --purge darter >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
  [[ ! -e /usr/bin/darter-server ]] || fail "purge left /usr/bin/darter-server"
  [[ -s /var/lib/darter/dump.rdb ]] || fail "purge deleted the dataset"
fi
echo "package_install_test: OK ($mode)"
