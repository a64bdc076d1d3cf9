#include "support/server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/client.h"

namespace darter::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  ::close(fd);
  return port;
}

namespace {

fs::path MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/darter-it-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return {};
  return fs::path(buf.data());
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

}  // namespace

ServerProcess::ServerProcess(std::string binary, std::vector<std::string> args, int port,
                             fs::path temp_dir)
    : binary_(std::move(binary)), args_(std::move(args)), port_(port), dir_(std::move(temp_dir)) {
  if (dir_.empty()) {
    dir_ = MakeTempDir();
    if (dir_.empty()) {
      start_error_ = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
  } else {
    std::error_code ec;
    fs::create_directories(dir_, ec);
  }

  // Everything the child needs is prepared before fork(): after it, in a
  // multi-threaded parent, the child may only make async-signal-safe calls.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary_.c_str()));
  for (auto& arg : args_) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string log = log_path().string();
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    start_error_ = "cannot open " + log + ": " + std::strerror(errno);
    if (log_fd >= 0) ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return;
  }
  const pid_t parent = ::getpid();
  static const char kExecFailed[] = "ServerProcess: execv failed\n";

  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // parent died before prctl
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);  // no inherited test sockets
    ::execv(argv[0], argv.data());
    ssize_t ignored = ::write(2, kExecFailed, sizeof kExecFailed - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0) {
    start_error_ = std::string("fork: ") + std::strerror(errno);
    return;
  }
  pid_ = pid;
}

ServerProcess::~ServerProcess() {
  Stop();
  if (!dir_.empty() && std::getenv("DARTER_TEST_KEEP_LOGS") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

bool ServerProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return r == 0;
}

int ServerProcess::Stop(std::chrono::milliseconds stop_timeout) {
  if (pid_ <= 0) return -1;
  if (!Running()) return wait_status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + stop_timeout;
  while (Clock::now() < deadline) {
    if (!Running()) return wait_status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  wait_status_ = status;
  return wait_status_;
}

std::string ServerProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path(), std::ios::binary);
  if (!in) return "(no log at " + log_path().string() + ")";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

std::string ServerProcess::Describe() const {
  std::string out = fs::path(binary_).filename().string() + " (pid " + std::to_string(pid_) +
                    ", port " + std::to_string(port_) + ")";
  if (reaped_) out += " " + DescribeWaitStatus(wait_status_);
  return out;
}

Status ServerProcess::WaitUntilReady(std::chrono::milliseconds timeout) {
  if (!start_error_.empty()) return Status::Error(start_error_);
  const auto deadline = Clock::now() + timeout;
  std::string last;
  while (Clock::now() < deadline) {
    if (!Running()) {
      return Status::Error(Describe() + " before it was ready; log tail:\n" + LogTail());
    }
    Client client(port_, std::chrono::milliseconds(500));
    if (client.ok()) {
      Reply reply = client.Cmd({"PING"});
      if ((reply.type == Reply::Type::kStatus && reply.str == "PONG") ||
          (reply.IsError() && reply.str.rfind("NOAUTH", 0) == 0)) {
        return Status::Ok();
      }
      last = Format(reply);
    } else {
      last = client.error();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Error(Describe() + " not ready after " + std::to_string(timeout.count()) +
                       " ms (last: " + last + "); log tail:\n" + LogTail());
}

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

bool LooksLikePortInUse(const std::string& log) {
  std::string lower = log;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("address already in use") != std::string::npos ||
         lower.find("eaddrinuse") != std::string::npos;
}

template <typename MakeArgs>
StartedServer StartWithRetry(const std::string& binary, int port, MakeArgs make_args) {
  StartedServer result;
  if (binary.empty()) {
    result.status = Status::Error("server binary not built (no path known)");
    return result;
  }
  if (::access(binary.c_str(), X_OK) != 0) {
    result.status = Status::Error("server binary not executable: " + binary);
    return result;
  }
  const bool pick = port == 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    int p = pick ? FreePort() : port;
    auto dir = MakeTempDir();
    auto process = std::make_unique<ServerProcess>(binary, make_args(p, dir), p, dir);
    Status ready = process->WaitUntilReady();
    if (ready.ok) {
      result.process = std::move(process);
      result.status = Status::Ok();
      return result;
    }
    result.status = ready;
    const bool retry = pick && !process->Running() && LooksLikePortInUse(process->LogTail());
    process.reset();  // stops and reaps the child, removes `dir`
    if (!retry) break;
  }
  return result;
}

}  // namespace

std::string RedisServerBinary() { return EnvOr("REDIS_SERVER_BIN", "/usr/bin/redis-server"); }

std::string DarterServerBinary() {
#ifdef DARTER_SERVER_BIN
  return EnvOr("DARTER_SERVER_BIN", DARTER_SERVER_BIN);
#else
  return EnvOr("DARTER_SERVER_BIN", "");
#endif
}

StartedServer StartRedis(int port, std::vector<std::string> extra_args) {
  return StartWithRetry(RedisServerBinary(), port, [&](int p, const fs::path& dir) {
    std::vector<std::string> args = {"--save", "", "--appendonly", "no",
                                     "--bind", "127.0.0.1", "--port", std::to_string(p),
                                     "--dir", dir.string(), "--enable-debug-command", "yes",
                                     "--daemonize", "no"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
  });
}

StartedServer StartDarter(int port, std::vector<std::string> extra_args) {
  return StartWithRetry(DarterServerBinary(), port, [&](int p, const fs::path& dir) {
    // As StartRedis: no save schedule and a directory of its own, unless the test gives
    // them (a later option overrides; save lines add up, after this one's reset).
    std::vector<std::string> args = {"--save", "", "--dir", dir.string(), "--port", std::to_string(p),
                                     "--bind", "127.0.0.1"};
    // As StartRedis: the tests may use DEBUG, unless a test sets the option itself.
    if (std::find(extra_args.begin(), extra_args.end(), "--enable-debug-command") == extra_args.end())
      args.insert(args.end(), {"--enable-debug-command", "yes"});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
  });
}

}  // namespace darter::test
