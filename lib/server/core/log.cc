#include "server/core/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace darter::server {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kNotice)};
std::atomic<int> g_fd{2};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

LogLevel ParseLogLevel(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "verbose") return LogLevel::kVerbose;
  if (name == "warning") return LogLevel::kWarning;
  return LogLevel::kNotice;
}

bool SetLogFile(const std::string& path) {
  if (path.empty()) {
    g_fd.store(2);
    return true;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  g_fd.store(fd);
  return true;
}

void Log(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  localtime_r(&tv.tv_sec, &t);
  char ts[64];
  strftime(ts, sizeof ts, "%d %b %Y %H:%M:%S", &t);
  static const char kMarks[] = {'.', '-', '*', '#'};
  char line[1200];
  int n = snprintf(line, sizeof line, "%d:M %s.%03d %c %s\n", static_cast<int>(getpid()), ts,
                   static_cast<int>(tv.tv_usec / 1000), kMarks[static_cast<int>(level)], msg);
  if (n > 0) {
    ssize_t w = ::write(g_fd.load(std::memory_order_relaxed), line, static_cast<size_t>(std::min<int>(n, sizeof line - 1)));
    (void)w;
  }
}

}  // namespace darter::server
