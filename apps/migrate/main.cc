// darter-migrate: flags → MigrationOptions → RunMigration → report. See docs/migrate.md.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <iostream>
#include <thread>

#include <boost/program_options.hpp>

#include "darter_version.h"
#include "migrate/migration.h"
#include "server/core/log.h"

namespace po = boost::program_options;
using namespace darter::migrate;

namespace {

const char kExitCodes[] =
    "Exit codes:\n"
    "  0    done (and, with --verify, no difference)\n"
    "  1    --verify found differences (listed in the report)\n"
    "  2    bad flags or arguments\n"
    "  3    source unreachable, AUTH refused, or the RDB file unreadable\n"
    "  4    the full sync failed (corrupt RDB, unsupported type, no progress, no catch-up)\n"
    "  5    target unreachable, embedded server failed to start, or SAVE failed\n"
    "  6    cutover could not reach equal offsets (the source was unpaused), or was refused\n"
    "  7    the target holds keys (give --flush-target to replace them)\n"
    "  130  interrupted before the first full sync completed\n";

const char kUsage[] =
    "darter-migrate: copy a live Redis (or an RDB file) into Darter, keep it in sync, cut over.\n\n"
    "  darter-migrate --source redis://[user:password@]host:port [--verify] [--port 6379]\n"
    "  darter-migrate --source redis://host:6379 --follow            # stay in sync until Ctrl-C / cutover\n"
    "  darter-migrate --source redis://host:6379 --target darter-host:6379 --cutover\n"
    "  darter-migrate --source rediss://user:password@host:6380 --tls-ca-cert ca.pem   # TLS, verified\n"
    "  darter-migrate --rdb dump.rdb --dir /var/lib/darter\n\n"
    "Without --target the bundled Darter server runs inside this process, serving clients on\n"
    "--port while it replicates; at the end it saves --dir/--dbfilename, which darter-server\n"
    "starts from. Progress: a live bar on a terminal, timestamped lines otherwise.\n\n"
    "Options";

const char kTlsHelp[] =
    "TLS: --source rediss://host:port speaks TLS to the source, and so does the target's replica link. The\n"
    "source's certificate must chain to --tls-ca-cert / --tls-ca-cert-dir (default: the system trust store)\n"
    "and name the host (or --sni); --tls-insecure skips that check, and the report says so. A --target\n"
    "given as rediss:// takes the same options with the --target- prefix. For a running --target, the\n"
    "source's CA and client certificate paths are set on it with CONFIG SET: they must be valid there.\n";

// The TLS flags of one side (prefix "" for the source, "target-" for --target).
struct TlsFlags {
  std::string ca_cert, ca_cert_dir, cert, key, sni;
  bool insecure = false;

  void Add(po::options_description& desc, const std::string& prefix, const std::string& side) {
    desc.add_options()
        ((prefix + "tls-ca-cert").c_str(), po::value(&ca_cert), ("rediss:// " + side + ": PEM file of the CAs its certificate must chain to (default: the system store)").c_str())
        ((prefix + "tls-ca-cert-dir").c_str(), po::value(&ca_cert_dir), ("rediss:// " + side + ": directory of trusted CAs (OpenSSL hashed names)").c_str())
        ((prefix + "tls-cert").c_str(), po::value(&cert), ("rediss:// " + side + ": client certificate to present (with --" + prefix + "tls-key)").c_str())
        ((prefix + "tls-key").c_str(), po::value(&key), ("rediss:// " + side + ": private key of --" + prefix + "tls-cert (unencrypted PEM)").c_str())
        ((prefix + "sni").c_str(), po::value(&sni), ("rediss:// " + side + ": server name to send, and to check its certificate against (default: the host)").c_str())
        ((prefix + "tls-insecure").c_str(), po::bool_switch(&insecure), ("rediss:// " + side + ": do NOT verify its certificate (the report says so)").c_str());
  }

  // Copies the flags into `uri`'s settings; an error when they cannot apply.
  std::optional<std::string> Apply(const std::string& prefix, const std::string& flag, SourceUri* uri) const {
    bool any = !ca_cert.empty() || !ca_cert_dir.empty() || !cert.empty() || !key.empty() || !sni.empty() || insecure;
    if (!uri) {
      if (any) return "--" + prefix + "tls-* and --" + prefix + "sni need --" + flag + " rediss://host:port";
      return std::nullopt;
    }
    if (any && !uri->tls.enabled)
      return "--" + prefix + "tls-* and --" + prefix + "sni apply to TLS only: give --" + flag + " as rediss://" +
             uri->Display();
    if (cert.empty() != key.empty()) return "--" + prefix + "tls-cert and --" + prefix + "tls-key go together";
    if (insecure && (!ca_cert.empty() || !ca_cert_dir.empty()))
      return "--" + prefix + "tls-insecure skips the certificate check, so --" + prefix +
             "tls-ca-cert(-dir) would be unused: give one or the other";
    TlsSettings& t = uri->tls;
    t.ca_cert_file = ca_cert;
    t.ca_cert_dir = ca_cert_dir;
    t.cert_file = cert;
    t.key_file = key;
    t.sni = sni;
    t.insecure = insecure;
    t.flag_prefix = "--" + prefix + "tls-";
    return std::nullopt;
  }
};

MigrationControl* g_control = nullptr;

// "600", "30s", "10m", "1h", "500ms", "off" → seconds; nullopt when malformed.
std::optional<double> ParseDuration(const std::string& text) {
  if (text == "off") return 0.0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0) return std::nullopt;
  std::string unit(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1000;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  return std::nullopt;
}

// Signals are blocked in every thread and taken here, so neither the embedded server's
// own handler nor a random thread sees them.
void SignalThread(sigset_t set) {
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGUSR1) g_control->cutover_requested.store(true);
    else if (sig == SIGINT || sig == SIGTERM) {
      if (g_control->interrupt.exchange(true)) _exit(kExitInterrupted);  // second Ctrl-C: now
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  MigrationOptions o;
  std::string source, target, logfile;
  int port = 6379;
  unsigned threads = 0;
  std::string dir = ".", dbfilename = "dump.rdb", bind = "127.0.0.1", requirepass, verify_every;
  po::options_description desc(kUsage);
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version,v", "print the version and exit")
      ("source", po::value(&source), "live source: redis://[user:password@]host:port, or rediss://... for TLS")
      ("rdb", po::value(&o.rdb_file), "load this RDB file instead of a live source")
      ("target", po::value(&target), "drive a running darter-server ([redis://][user:password@]host:port) instead of the embedded one")
      ("port", po::value(&port)->default_value(6379), "embedded server: port to serve clients on (0: a free port)")
      ("bind", po::value(&bind)->default_value(bind), "embedded server: address to listen on")
      ("threads", po::value(&threads)->default_value(0), "embedded server: shard threads (0: one per core)")
      ("requirepass", po::value(&requirepass), "embedded server: password its clients must AUTH with")
      ("dir", po::value(&dir)->default_value(dir), "embedded server: directory of the snapshot")
      ("dbfilename", po::value(&dbfilename)->default_value(dbfilename), "embedded server: snapshot file name")
      ("logfile", po::value(&logfile), "embedded server's log (default: <dir>/darter-migrate.log)")
      ("follow", po::bool_switch(&o.follow), "stay in sync after the full sync, until Ctrl-C, SIGUSR1 or 'cutover' on stdin")
      ("cutover", po::bool_switch(&o.cutover), "after catching up: pause source writes, wait for equal offsets, REPLICAOF NO ONE on the target, then make the source a replica of the target")
      ("cutover-leave-source", po::bool_switch(&o.cutover_leave_source), "cutover: leave the source a writable primary (writes its clients still send are NOT on the target)")
      ("target-address", po::value(&o.target_address), "cutover: host:port the source uses to reach the target (default: the --target address, or the embedded server's)")
      ("pause-ms", po::value(&o.pause_ms)->default_value(o.pause_ms), "cutover: longest write pause on the source")
      ("flush-target", po::bool_switch(&o.flush_target), "allow a target that holds keys: the full sync deletes them")
      ("detach", po::bool_switch(&o.detach), "at the end (also after a failure), REPLICAOF NO ONE on the target so it accepts writes")
      ("verify", po::bool_switch(&o.verify), "compare every key (type, TTL, value) between source and target")
      ("verify-sample", po::value(&o.verify_sample)->default_value(0), "verify about N random keys instead of all (implies --verify)")
      ("verify-every", po::value(&verify_every)->default_value("10m"), "--follow: check a random sample this often (30s, 10m, 1h; off)")
      ("verify-every-sample", po::value(&o.verify_every_sample)->default_value(o.verify_every_sample), "--follow: keys per periodic sample check")
      ("ttl-tolerance-ms", po::value(&o.ttl_tolerance_ms)->default_value(o.ttl_tolerance_ms), "verify: allowed TTL difference")
      ("verify-show", po::value(&o.verify_show)->default_value(o.verify_show), "verify: differences listed in the report")
      ("no-save", "do not SAVE a snapshot on the target at the end")
      ("json", po::bool_switch(&o.json), "print the final report as JSON on stdout (progress goes to stderr)")
      ("progress-interval", po::value(&o.progress_interval_s)->default_value(o.progress_interval_s), "seconds between plain progress lines")
      ("stall-timeout", po::value(&o.stall_timeout_s)->default_value(o.stall_timeout_s), "fail when the full sync makes no progress this long (s)")
      ("catchup-timeout", po::value(&o.catchup_timeout_s)->default_value(o.catchup_timeout_s), "fail when catching up takes longer (s)")
      ("copy-acl", po::bool_switch(&o.copy_acl), "copy the source's ACL users (ACL LIST) to the target; a rule the target refuses is reported, and a user it would widen is left disabled")
      ("rdb-listen", po::value(&o.rdb_listen)->default_value(o.rdb_listen), "--rdb: address the target connects to for the file")
      ("status-port", po::value(&o.status_port), "serve the progress over HTTP on this port: /metrics (Prometheus) and /status (JSON)")
      ("status-bind", po::value(&o.status_bind)->default_value(o.status_bind), "address the --status-port listens on");
  TlsFlags source_tls, target_tls;
  source_tls.Add(desc, "", "source");
  target_tls.Add(desc, "target-", "target");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "darter-migrate: " << e.what() << "\n(see --help)\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << kTlsHelp << "\n" << kExitCodes;
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "darter-migrate " << DARTER_VERSION << " (" << DARTER_GIT_SHA << ")\n";
    return kExitOk;
  }
  if (source.empty() == o.rdb_file.empty()) {
    std::cerr << "darter-migrate: give exactly one of --source redis://host:port or --rdb FILE (see --help)\n";
    return kExitUsage;
  }
  std::string err;
  if (!source.empty()) {
    o.source = ParseSourceUri(source, &err);
    if (!o.source) {
      std::cerr << "darter-migrate: --source: " << err << "\n";
      return kExitUsage;
    }
  }
  if (!target.empty()) {
    o.target = ParseSourceUri(target, &err);
    if (!o.target) {
      std::cerr << "darter-migrate: --target: " << err << "\n";
      return kExitUsage;
    }
  }
  if (auto e = source_tls.Apply("", "source", o.source ? &*o.source : nullptr)) {
    std::cerr << "darter-migrate: " << *e << "\n";
    return kExitUsage;
  }
  if (auto e = target_tls.Apply("target-", "target", o.target ? &*o.target : nullptr)) {
    std::cerr << "darter-migrate: " << *e << "\n";
    return kExitUsage;
  }
  if (!o.rdb_file.empty() && o.copy_acl) {
    std::cerr << "darter-migrate: --copy-acl needs a live --source (an RDB file holds no users)\n";
    return kExitUsage;
  }
  if (!o.rdb_file.empty() && (o.follow || o.cutover)) {
    std::cerr << "darter-migrate: --follow and --cutover need a live --source\n";
    return kExitUsage;
  }
  if (o.verify_sample > 0) o.verify = true;
  if (auto d = ParseDuration(verify_every)) {
    o.verify_every_s = *d;
  } else {
    std::cerr << "darter-migrate: --verify-every: '" << verify_every << "' is not a duration (30s, 10m, 1h, off)\n";
    return kExitUsage;
  }
  if (o.verify_every_sample == 0) o.verify_every_s = 0;
  if (!o.target_address.empty()) {
    if (!ParseHostPort(o.target_address, &err)) {
      std::cerr << "darter-migrate: --target-address: " << err << "\n";
      return kExitUsage;
    }
  }
  if (o.cutover_leave_source && !o.cutover && !o.follow) {
    std::cerr << "darter-migrate: --cutover-leave-source changes --cutover (or a cutover requested while following)\n";
    return kExitUsage;
  }
  if (port < 0 || port > 65535) {
    std::cerr << "darter-migrate: --port must be 0..65535\n";
    return kExitUsage;
  }
  if (vm.count("status-port") && (o.status_port < 0 || o.status_port > 65535)) {
    std::cerr << "darter-migrate: --status-port must be 0..65535\n";
    return kExitUsage;
  }
  o.save = !vm.count("no-save");
  o.tty = isatty(o.json ? 2 : 1);
  o.stdin_commands = isatty(0);
  o.embedded.port = port;
  o.embedded.bind = bind;
  o.embedded.threads = threads;
  o.embedded.dir = dir;
  o.embedded.dbfilename = dbfilename;
  o.embedded.requirepass = requirepass;
  if (!o.target) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    o.embedded.logfile = logfile.empty() ? (std::filesystem::path(dir) / "darter-migrate.log").string() : logfile;
    if (!darter::server::SetLogFile(o.embedded.logfile)) {
      std::cerr << "darter-migrate: cannot open log file " << o.embedded.logfile << "\n";
      return kExitUsage;
    }
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  MigrationControl control;
  g_control = &control;
  sigset_t wait_set = set;
  sigdelset(&wait_set, SIGPIPE);
  std::thread(SignalThread, wait_set).detach();

  MigrationReport report = RunMigration(o, control);
  if (o.json) {
    fputs(report.ToJson().c_str(), stdout);
  } else {
    fputs(report.ToText().c_str(), stdout);
    if (!o.target && !o.embedded.logfile.empty()) printf("  server log:    %s\n", o.embedded.logfile.c_str());
  }
  fflush(stdout);
  return report.exit_code;
}
