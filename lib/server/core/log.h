// Logging in Redis's line format ("pid:role dd Mon yyyy hh:mm:ss.mmm <level> message"),
// to stderr or --logfile. Thread-safe: one write(2) per line.
#pragma once

#include <string>

namespace darter::server {

enum class LogLevel { kDebug = 0, kVerbose = 1, kNotice = 2, kWarning = 3 };

void SetLogLevel(LogLevel level);
bool SetLogFile(const std::string& path);  // empty: stderr
LogLevel ParseLogLevel(const std::string& name);
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace darter::server

#define LOG_DEBUG(...) ::darter::server::Log(::darter::server::LogLevel::kDebug, __VA_ARGS__)
#define LOG_VERBOSE(...) ::darter::server::Log(::darter::server::LogLevel::kVerbose, __VA_ARGS__)
#define LOG_NOTICE(...) ::darter::server::Log(::darter::server::LogLevel::kNotice, __VA_ARGS__)
#define LOG_WARNING(...) ::darter::server::Log(::darter::server::LogLevel::kWarning, __VA_ARGS__)
