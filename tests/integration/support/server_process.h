// ServerProcess: a server binary (redis-server or darter-server) run as a
// child process of an integration test, on a loopback port.
//
// Lifetime: the constructor forks and execs; stdout and stderr go to
// <temp dir>/server.log. The destructor sends SIGTERM, waits up to
// `stop_timeout`, then SIGKILLs, and always reaps the child by its pid, so a
// test that fails an assertion (and unwinds) still leaves no process behind.
// The child also gets PR_SET_PDEATHSIG=SIGKILL: if the test process dies
// without unwinding (crash, ctest timeout) the server dies with it. That
// signal follows the *thread* that forked, so create servers on the test's
// main thread.
//
// Thread-safety: requires external synchronization.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace darter::test {

// Outcome of an operation that can fail, with a message saying why.
struct Status {
  bool ok = true;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(std::string message) { return {false, std::move(message)}; }
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close).
// Another process may take it before the server binds; StartRedis/StartDarter
// retry with a new port when that happens.
int FreePort();

class ServerProcess {
 public:
  // Starts `binary` with `args` (argv[0] is added). `temp_dir` holds the log
  // (and whatever the server writes there); empty means a fresh one under
  // $TMPDIR. Either way the process owns it: the destructor removes it unless
  // DARTER_TEST_KEEP_LOGS is set in the environment.
  ServerProcess(std::string binary, std::vector<std::string> args, int port,
                std::filesystem::path temp_dir = {});
  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Polls connect + PING until the server answers PONG (or NOAUTH, which
  // also proves it is serving), the child exits (fails at once, with the log
  // tail), or `timeout` passes.
  Status WaitUntilReady(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Stops the server (SIGTERM, then SIGKILL after `stop_timeout`) and reaps
  // it. Idempotent. Returns the wait status, or -1 if it was never started.
  int Stop(std::chrono::milliseconds stop_timeout = std::chrono::seconds(5));

  // True while the child has not exited (reaps it if it has).
  bool Running();

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path log_path() const { return dir_ / "server.log"; }
  // The last `max_bytes` of the server's log.
  std::string LogTail(size_t max_bytes = 4096) const;
  // Human-readable: binary, pid, port, the exit status if known.
  std::string Describe() const;

 private:
  std::string binary_;
  std::vector<std::string> args_;
  int port_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::string start_error_;
};

// A started-and-ready server, or why it could not be had.
struct StartedServer {
  std::unique_ptr<ServerProcess> process;  // null when !status.ok
  Status status;
  int port() const { return process ? process->port() : -1; }
};

// Debian's redis-server (or $REDIS_SERVER_BIN) with
//   --save '' --appendonly no --bind 127.0.0.1 --port P --dir <tmp>
//   --enable-debug-command yes --daemonize no
// followed by `extra_args` (e.g. {"--requirepass", "pw"}). port 0 picks a
// free port and retries with another if the child fails to bind.
StartedServer StartRedis(int port = 0, std::vector<std::string> extra_args = {});

// darter-server (DarterServerBinary()) with --save '' --dir <tmp> --port P
// --bind 127.0.0.1 --enable-debug-command yes (unless `extra_args` sets it) and
// `extra_args`, which override the ones before (a `--save` of theirs replaces '')
// (e.g. {"--threads", "2"}). Same port rule as StartRedis.
StartedServer StartDarter(int port = 0, std::vector<std::string> extra_args = {});

// Path of the darter-server binary: $DARTER_SERVER_BIN if set, else the one
// this build produced (compile definition), else "" (not built).
std::string DarterServerBinary();
std::string RedisServerBinary();

}  // namespace darter::test
