// Helpers of the darter-migrate integration tests: run the tool as a child process
// (to completion, or in the background to signal it), read its JSON report, and a
// scripted primary that serves any number of connections at once (the tool's own
// connection, the replica link and the verifier's all reach it together).
//
// Thread-safety: MigrateProcess and ScriptedPrimary are driven from the test thread;
// ScriptedPrimary serves each connection on a thread of its own.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "replication_support.h"

namespace darter::test::migrate {

using namespace std::chrono_literals;

// host:port of a server on the loopback interface, as --target and ROLE name it.
inline std::string LoopbackAddr(int port) { return "127.0.0.1:" + std::to_string(port); }

inline std::string MigrateBinary() {
  const char* env = std::getenv("DARTER_MIGRATE_BIN");
  return env ? env : DARTER_MIGRATE_BIN;
}

struct RunResult {
  int exit_code = -1;
  double seconds = 0;
  std::string out, err;
};

inline std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// darter-migrate running in the background: stdout and stderr go to files (read them
// while it runs), stdin is /dev/null. The destructor kills it (by pid) if still running.
class MigrateProcess {
 public:
  explicit MigrateProcess(const std::vector<std::string>& args) {
    static std::atomic<int> seq{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("darter-migrate-test-" + std::to_string(getpid()) + "-" + std::to_string(seq++));
    std::filesystem::create_directories(dir_);
    started_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      int o = open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int n = open("/dev/null", O_RDONLY);
      dup2(o, 1);
      dup2(e, 2);
      dup2(n, 0);
      std::vector<std::string> all = {MigrateBinary()};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~MigrateProcess() {
    if (pid_ > 0 && !done_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  pid_t pid() const { return pid_; }
  std::string out() const { return Slurp(dir_ / "stdout"); }
  std::string err() const { return Slurp(dir_ / "stderr"); }
  void Signal(int sig) {
    if (pid_ > 0 && !done_) kill(pid_, sig);
  }
  // Waits for the exit, bounded by `timeout` (then SIGKILL).
  RunResult Wait(std::chrono::seconds timeout = 120s) {
    RunResult r;
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done_) {
      pid_t w = waitpid(pid_, &status, WNOHANG);
      if (w == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        r.err = "[killed after the timeout]\n";
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    done_ = true;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    r.out = out();
    r.err += err();
    return r;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool done_ = false;
  std::chrono::steady_clock::time_point started_;
};

// Runs darter-migrate with `args` to completion, bounded by `timeout`.
inline RunResult RunMigrate(const std::vector<std::string>& args, std::chrono::seconds timeout = 120s) {
  MigrateProcess p(args);
  return p.Wait(timeout);
}

// A minimal JSON reader: enough to walk darter-migrate's report.
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> items;
  std::map<std::string, Json> fields;
  const Json& operator[](const std::string& k) const {
    static Json none;
    auto it = fields.find(k);
    return it == fields.end() ? none : it->second;
  }
};

struct JsonParser {
  const std::string& t;
  size_t i = 0;
  bool ok = true;
  void Ws() {
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
  }
  char At() const { return i < t.size() ? t[i] : '\0'; }
  Json Parse() {
    Ws();
    Json j;
    if (i >= t.size()) {
      ok = false;
      return j;
    }
    char c = t[i];
    if (c == '{') {
      j.kind = Json::kObject;
      ++i;
      Ws();
      if (At() == '}') { ++i; return j; }
      while (ok) {
        Ws();
        Json k = Parse();
        Ws();
        if (At() != ':') { ok = false; break; }
        ++i;
        j.fields[k.s] = Parse();
        Ws();
        if (At() == ',') { ++i; continue; }
        if (At() == '}') { ++i; break; }
        ok = false;
      }
    } else if (c == '[') {
      j.kind = Json::kArray;
      ++i;
      Ws();
      if (At() == ']') { ++i; return j; }
      while (ok) {
        j.items.push_back(Parse());
        Ws();
        if (At() == ',') { ++i; continue; }
        if (At() == ']') { ++i; break; }
        ok = false;
      }
    } else if (c == '"') {
      j.kind = Json::kString;
      ++i;
      while (i < t.size() && t[i] != '"') {
        if (t[i] == '\\') {
          ++i;
          char e = At();
          if (e == 'u') {
            j.s += static_cast<char>(std::stoi(t.substr(i + 1, 4), nullptr, 16));
            i += 4;
          } else j.s += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          ++i;
        } else j.s += t[i++];
      }
      ++i;
    } else if (t.compare(i, 4, "true") == 0 || t.compare(i, 5, "false") == 0) {
      j.kind = Json::kBool;
      j.b = t[i] == 't';
      i += j.b ? 4 : 5;
    } else if (t.compare(i, 4, "null") == 0) {
      i += 4;
    } else {
      j.kind = Json::kNumber;
      size_t used = 0;
      try {
        j.n = std::stod(t.substr(i), &used);
      } catch (...) {
        ok = false;
      }
      i += used ? used : 1;
    }
    return j;
  }
};

inline Json ParseJson(const std::string& text, bool* ok) {
  JsonParser p{text};
  Json j = p.Parse();
  *ok = p.ok && j.kind == Json::kObject;
  return j;
}

// A primary that answers whatever darter-migrate and a replica ask, on any number of
// connections at once: PING → +PONG, INFO → an empty bulk, CONFIG GET / COMMAND → an
// empty array, PSYNC → "+FULLRESYNC <id> 0\r\n" followed by `payload` (the RDB
// transfer as the test wants it), anything else → +OK. Counts PSYNCs.
class ScriptedPrimary {
 public:
  explicit ScriptedPrimary(std::string payload) : payload_(std::move(payload)) {
    fd_ = repl::ListenLoopback(&port_);
    accept_thread_ = std::thread([this] { Accept(); });
  }
  ~ScriptedPrimary() {
    stop_.store(true);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::lock_guard lk(mu_);
    for (auto& t : conns_)
      if (t.joinable()) t.join();
    close(fd_);
  }
  int port() const { return port_; }
  int psyncs() const { return psyncs_.load(); }

 private:
  void Accept() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard lk(mu_);
      conns_.emplace_back([this, c] {
        Serve(c);
        close(c);
      });
    }
  }
  void Serve(int c) {
    std::string in;
    char buf[4096];
    while (!stop_.load()) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      std::string cmd;
      while (repl::TakeCommandName(&in, &cmd)) {
        std::string out;
        if (cmd == "ping") out = "+PONG\r\n";
        else if (cmd == "info") out = "$0\r\n\r\n";
        else if (cmd == "config" || cmd == "command") out = "*0\r\n";
        else if (cmd == "psync") {
          psyncs_++;
          out = "+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 0\r\n" + payload_;
        } else out = "+OK\r\n";
        send(c, out.data(), out.size(), MSG_NOSIGNAL);
      }
    }
  }

  std::string payload_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> psyncs_{0};
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::thread accept_thread_;
};

}  // namespace darter::test::migrate
