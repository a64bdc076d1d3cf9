// darter-server [/path/to/darter.conf] [--name value ...]: redis-server's command line.
// The file and the options become directives (server/core/config_file.h) applied in
// order — the file first, so an option overrides it — to the configuration registry
// (server/core/config_directives.h); then the server starts.
//
// Exit status: 0 after a clean shutdown, 1 when the server cannot start, 2 for a
// configuration error.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "darter_version.h"
#include "server/access/acl_family.h"
#include "server/core/config_directives.h"
#include "server/core/config_file.h"
#include "server/core/config_rewrite.h"
#include "server/core/log.h"
#include "server/core/server.h"

namespace {

using darter::server::ConfigRegistry;
using darter::server::ServerOptions;

void PrintVersion() {
  std::printf("Darter server v=%s sha=%s:0 malloc=libc bits=%d (Redis 7.0 protocol and commands)\n", DARTER_VERSION,
              DARTER_GIT_SHA, static_cast<int>(sizeof(void*) * CHAR_BIT));
}

void PrintUsage(const ConfigRegistry& defaults) {
  std::printf(
      "Usage: darter-server [/path/to/darter.conf] [--name value ...]\n"
      "       darter-server -v | --version\n"
      "       darter-server -h | --help\n\n"
      "Darter reads Redis's configuration syntax: each parameter below is a directive of the\n"
      "file and an option of the command line (--port 6380, --save \"\", --maxmemory 2gb);\n"
      "options override the file. Also: user, replicaof, include (files only).\n\n"
      "Parameters and their defaults:\n");
  for (const auto& [name, value] : defaults.Get("*")) std::printf("  %-36s %s\n", name.c_str(), value.c_str());
}

// Redis's daemonize: the parent returns at once, the child leaves the terminal's
// session and its standard streams go to /dev/null. Runs before any thread exists.
void Daemonize() {
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("darter-server: fork");
    std::exit(1);
  }
  if (pid > 0) std::exit(0);
  setsid();
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
  }
}

bool WritePidFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fprintf(f, "%d\n", static_cast<int>(getpid()));
  return std::fclose(f) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  ConfigRegistry registry(darter::server::DefaultStartupOptions());
  darter::server::RecordConfigDefaults(registry);
  if (words.size() == 1 && (words[0] == "-v" || words[0] == "--version")) {
    PrintVersion();
    return 0;
  }
  if (words.size() == 1 && (words[0] == "-h" || words[0] == "--help")) {
    PrintUsage(registry);
    return 0;
  }

  std::vector<darter::server::ConfigDirective> directives;
  std::string config_file, error;
  size_t first_option = 0;
  if (!words.empty() && words[0].rfind("--", 0) != 0) {
    char* absolute = realpath(words[0].c_str(), nullptr);
    if (!absolute) {
      std::cerr << "darter-server: cannot open config file '" << words[0] << "'\n";
      return 2;
    }
    config_file = absolute;
    std::free(absolute);
    if (!darter::server::ReadConfigFile(config_file, &directives, &error)) {
      std::cerr << "darter-server: " << error << "\n";
      return 2;
    }
    first_option = 1;
  }
  if (!darter::server::ParseCommandLineDirectives({words.begin() + first_option, words.end()}, &directives,
                                                  &error)) {
    std::cerr << "darter-server: " << error << "\n(darter-server --help lists the options)\n";
    return 2;
  }
  ServerOptions given;
  std::vector<std::string> warnings;
  if (auto err = darter::server::ApplyConfigDirectives(registry, directives, &given, &warnings)) {
    std::cerr << *err << "\n";
    return 2;
  }
  ServerOptions o = registry.Snapshot();
  o.users = given.users;
  o.replicaof = given.replicaof;
  o.config_file = config_file;
  if (o.tls_port != 0 && (o.tls_cert_file.empty() || o.tls_key_file.empty())) {
    std::cerr << "darter-server: tls-port needs tls-cert-file and tls-key-file\n";
    return 2;
  }

  if (o.daemonize) Daemonize();
  if (o.daemonize && o.pidfile.empty()) o.pidfile = "/var/run/darter.pid";
  if (!darter::server::SetLogFile(o.logfile)) {
    std::cerr << "darter-server: cannot open log file " << o.logfile << "\n";
    return 1;
  }
  darter::server::SetLogLevel(darter::server::ParseLogLevel(o.loglevel));
  if (!config_file.empty()) LOG_NOTICE("Configuration loaded from %s", config_file.c_str());
  if (!warnings.empty()) {
    LOG_WARNING("%zu configuration directive(s) of Redis that Darter does not implement were ignored:",
                warnings.size());
    for (const std::string& w : warnings) LOG_WARNING("  %s", w.c_str());
  }
  if (!o.pidfile.empty() && !WritePidFile(o.pidfile))
    LOG_WARNING("Failed to write PID file %s: %s", o.pidfile.c_str(), std::strerror(errno));

  // Signals are handled by the server's main loop; block them in every other thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  int status = 0;
  {
    darter::server::Server server(o);
    // ACL users, once the command table is complete (the server registered it): an error
    // stops the start, as Redis's ACLLoadUsersAtStartup.
    if (auto err = darter::server::LoadAclAtStartup(o.aclfile, o.users)) {
      LOG_WARNING("%s", err->c_str());
      status = 1;
    } else if (auto err = server.Start()) {
      LOG_WARNING("%s", err->c_str());
      status = 1;
    } else {
      if (server.bound_port())
        LOG_NOTICE("Darter %s listening on %s port %u with %u threads; connect with: redis-cli -p %u",
                   DARTER_VERSION, o.bind.c_str(), server.bound_port(), server.shards().size(), server.bound_port());
      if (server.tls_bound_port())
        LOG_NOTICE("Darter %s listening for TLS on %s port %u with %u threads; connect with: redis-cli --tls -p %u",
                   DARTER_VERSION, o.bind.c_str(), server.tls_bound_port(), server.shards().size(),
                   server.tls_bound_port());
      server.Run();
    }
  }
  if (!o.pidfile.empty()) unlink(o.pidfile.c_str());
  return status;
}
