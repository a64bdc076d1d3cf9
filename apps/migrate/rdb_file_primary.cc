#include "migrate/rdb_file_primary.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace darter::migrate {

namespace {

bool WriteAll(int fd, const char* p, size_t n, const std::atomic<bool>& stop) {
  while (n > 0 && !stop.load()) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd pfd{fd, POLLOUT, 0};
        poll(&pfd, 1, 200);
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return n == 0;
}

// Extracts one RESP array of bulk strings (or an inline command) from buf; false
// when incomplete.
bool ParseCommand(std::string& buf, std::vector<std::string>* argv) {
  argv->clear();
  if (buf.empty()) return false;
  if (buf[0] != '*') {
    size_t eol = buf.find("\r\n");
    if (eol == std::string::npos) return false;
    std::string line = buf.substr(0, eol);
    buf.erase(0, eol + 2);
    size_t pos = 0;
    while (pos < line.size()) {
      size_t sp = line.find(' ', pos);
      if (sp == std::string::npos) sp = line.size();
      if (sp > pos) argv->push_back(line.substr(pos, sp - pos));
      pos = sp + 1;
    }
    return true;
  }
  size_t eol = buf.find("\r\n");
  if (eol == std::string::npos) return false;
  long n = std::strtol(buf.c_str() + 1, nullptr, 10);
  size_t pos = eol + 2;
  for (long i = 0; i < n; ++i) {
    size_t e = buf.find("\r\n", pos);
    if (e == std::string::npos || buf[pos] != '$') return false;
    long len = std::strtol(buf.c_str() + pos + 1, nullptr, 10);
    pos = e + 2;
    if (buf.size() < pos + static_cast<size_t>(len) + 2) return false;
    argv->push_back(buf.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len) + 2;
  }
  buf.erase(0, pos);
  return true;
}

}  // namespace

RdbFilePrimary::RdbFilePrimary(std::string path, std::string bind) : path_(std::move(path)), bind_(std::move(bind)) {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  static const char* kHex = "0123456789abcdef";
  replid_.resize(40);
  for (auto& c : replid_) c = kHex[rng() & 15];
}

RdbFilePrimary::~RdbFilePrimary() { Stop(); }

std::optional<std::string> RdbFilePrimary::Start() {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return "cannot read RDB file " + path_ + ": " + strerror(errno);
  if (!S_ISREG(st.st_mode)) return "RDB file " + path_ + " is not a regular file";
  int probe = open(path_.c_str(), O_RDONLY);
  if (probe < 0) return "cannot open RDB file " + path_ + ": " + strerror(errno);
  char magic[5] = {};
  ssize_t got = read(probe, magic, 5);
  close(probe);
  if (got != 5 || (std::memcmp(magic, "REDIS", 5) != 0 && std::memcmp(magic, "VALKE", 5) != 0))
    return "RDB file " + path_ + " does not start with REDIS or VALKEY: not an RDB file";
  size_ = st.st_size;
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + strerror(errno);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, bind_.c_str(), &addr.sin_addr) != 1) return "invalid --rdb-listen address " + bind_;
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 4) != 0)
    return "cannot listen on " + bind_ + " to serve the RDB file: " + strerror(errno);
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
  return std::nullopt;
}

void RdbFilePrimary::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void RdbFilePrimary::Serve() {
  while (!stop_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    sessions_.fetch_add(1);
    Session(fd);
    close(fd);
  }
}

bool RdbFilePrimary::Session(int fd) {
  std::string buf;
  std::vector<std::string> argv;
  char chunk[64 * 1024];
  bool sent_rdb = false;
  while (!stop_.load()) {
    while (ParseCommand(buf, &argv)) {
      if (argv.empty() || sent_rdb) continue;  // after the RDB only REPLCONF ACKs come
      std::string cmd = argv[0];
      for (auto& c : cmd) c = static_cast<char>(tolower(c));
      std::string reply;
      if (cmd == "ping") reply = "+PONG\r\n";
      else if (cmd == "psync" || cmd == "sync") {
        reply = "+FULLRESYNC " + replid_ + " 0\r\n$" + std::to_string(size_) + "\r\n";
        if (!WriteAll(fd, reply.data(), reply.size(), stop_)) return false;
        int file = open(path_.c_str(), O_RDONLY);
        if (file < 0) return false;
        ssize_t n;
        bool ok = true;
        while (ok && (n = read(file, chunk, sizeof chunk)) > 0) ok = WriteAll(fd, chunk, static_cast<size_t>(n), stop_);
        close(file);
        if (!ok) return false;
        sent_rdb = true;
        continue;
      } else reply = "+OK\r\n";
      if (!WriteAll(fd, reply.data(), reply.size(), stop_)) return false;
    }
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return n == 0;
    buf.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace darter::migrate
