#include "migrate/target.h"

#include <openssl/x509.h>

#include <filesystem>

#include "server/core/server.h"

namespace darter::migrate {

std::unique_ptr<Target> Target::StartEmbedded(const server::ServerOptions& options, std::string* error) {
  std::unique_ptr<Target> t(new Target());
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  t->server_ = std::make_unique<server::Server>(options);
  if (auto err = t->server_->Start()) {
    *error = "cannot start the embedded Darter: " + *err;
    t->server_.reset();
    return nullptr;
  }
  server::Server* srv = t->server_.get();
  t->server_thread_ = std::thread([srv] { srv->Run(); });
  t->address_.host = options.bind == "0.0.0.0" ? "127.0.0.1" : options.bind;
  t->address_.port = srv->bound_port();
  t->address_.password = options.requirepass;
  if (auto err = t->conn_.Connect("embedded Darter " + t->address_.Display(), t->address_.host, t->address_.port, "",
                                  options.requirepass)) {
    *error = *err;
    t->Shutdown();
    return nullptr;
  }
  return t;
}

std::unique_ptr<Target> Target::ConnectRemote(const SourceUri& address, std::string* error) {
  std::unique_ptr<Target> t(new Target());
  t->address_ = address;
  if (auto err = t->conn_.Connect("target " + address.Display(), address.host, address.port, address.user,
                                  address.password, address.tls)) {
    *error = *err;
    return nullptr;
  }
  return t;
}

Target::~Target() { Shutdown(); }

void Target::Shutdown() {
  if (server_) {
    server_->RequestShutdown();
    if (server_thread_.joinable()) server_thread_.join();
    server_.reset();
  }
}

std::string Target::Describe() const {
  return (server_ ? "embedded Darter on " : "darter-server ") + address_.Display();
}

std::unique_ptr<RedisConn> Target::NewConn(std::string* error) const {
  auto c = std::make_unique<RedisConn>();
  if (auto err = c->Connect(conn_.what(), address_.host, address_.port, address_.user, address_.password,
                            address_.tls)) {
    *error = *err;
    return nullptr;
  }
  return c;
}

void EmbeddedReplicaTls(const TlsSettings& tls, server::ServerOptions* options) {
  options->tls_replication = tls.enabled;
  if (!tls.enabled) return;
  options->tls_ca_cert_file = tls.ca_cert_file;
  options->tls_ca_cert_dir = tls.ca_cert_dir;
  if (tls.system_store() && !tls.insecure) {
    std::error_code ec;
    if (std::filesystem::exists(X509_get_default_cert_file(), ec)) options->tls_ca_cert_file = X509_get_default_cert_file();
    if (std::filesystem::is_directory(X509_get_default_cert_dir(), ec)) options->tls_ca_cert_dir = X509_get_default_cert_dir();
  }
  options->tls_client_cert_file = tls.cert_file;
  options->tls_client_key_file = tls.key_file;
  options->tls_replication_sni = tls.sni;
  options->tls_replication_insecure = tls.insecure;
}

std::optional<std::string> Target::ReplicaOf(const std::string& host, int port, const std::string& user,
                                             const std::string& password, const TlsSettings& tls, bool* already) {
  *already = false;
  // The embedded server got its credentials and TLS settings in its options; a running
  // one gets them through CONFIG SET (never on a command line of another process).
  if (!server_) {
    std::vector<std::pair<const char*, std::string>> settings = {{"masteruser", user}, {"masterauth", password}};
    // Paths are the target host's: only those given are set, the rest stay as the
    // target has them (its own tls-ca-cert-file may already trust the source).
    if (tls.enabled) {
      if (!tls.ca_cert_file.empty()) settings.push_back({"tls-ca-cert-file", tls.ca_cert_file});
      if (!tls.ca_cert_dir.empty()) settings.push_back({"tls-ca-cert-dir", tls.ca_cert_dir});
      if (!tls.cert_file.empty()) {
        settings.push_back({"tls-client-cert-file", tls.cert_file});
        settings.push_back({"tls-client-key-file", tls.key_file});
      }
      settings.push_back({"tls-replication-sni", tls.sni});
      settings.push_back({"tls-replication-insecure", tls.insecure ? "yes" : "no"});
    }
    for (auto& [name, value] : settings) {
      ReplyPtr r = conn_.Cmd({"CONFIG", "SET", name, value});
      if (!r) return conn_.error();
      if (IsError(r.get())) {
        std::string msg = ReplyText(r.get());
        if (std::string(name).rfind("tls-", 0) == 0 && msg.find("nknown option") != std::string::npos)
          return "the target refused CONFIG SET " + std::string(name) + " (" + msg +
                 "): this darter-server cannot replicate from a TLS source; upgrade it to a build with TLS";
        return "CONFIG SET " + std::string(name) + " on the target failed: " + msg;
      }
    }
    // Last, so a refused setting above leaves the link as it was. A target without TLS
    // support knows no tls-replication and speaks plain TCP anyway: for a plain source
    // that refusal is harmless.
    ReplyPtr r = conn_.Cmd({"CONFIG", "SET", "tls-replication", tls.enabled ? "yes" : "no"});
    if (!r) return conn_.error();
    if (IsError(r.get()) && tls.enabled)
      return "the target refused CONFIG SET tls-replication yes (" + ReplyText(r.get()) +
             "): it cannot replicate from the TLS source " + host + ":" + std::to_string(port) +
             (ReplyText(r.get()).find("nknown option") != std::string::npos
                  ? "; this darter-server has no TLS support, upgrade it"
                  : "");
  }
  ReplyPtr r = conn_.Cmd({"REPLICAOF", host, std::to_string(port)});
  if (!r) return conn_.error();
  if (IsError(r.get())) return "REPLICAOF on the target failed: " + ReplyText(r.get());
  *already = ReplyText(r.get()).find("Already") != std::string::npos;
  return std::nullopt;
}

std::optional<std::string> Target::ReplicaOfNoOne() {
  ReplyPtr r = conn_.Cmd({"REPLICAOF", "NO", "ONE"});
  if (!r) return conn_.error();
  if (IsError(r.get())) return "REPLICAOF NO ONE on the target failed: " + ReplyText(r.get());
  return std::nullopt;
}

ReplStatus Target::Status() {
  ReplStatus s;
  auto info = conn_.Info("replication");
  if (info.empty()) {
    s.error = conn_.error().empty() ? "INFO replication on the target returned nothing" : conn_.error();
    return s;
  }
  auto stats = conn_.Info("stats");
  s.ok = true;
  s.is_replica = InfoStr(info, "role") == "slave";
  s.link_up = InfoStr(info, "master_link_status") == "up";
  s.sync_in_progress = InfoInt(info, "master_sync_in_progress", 0) == 1;
  s.sync_total_bytes = InfoInt(info, "master_sync_total_bytes", -1);
  s.sync_read_bytes = InfoInt(info, "master_sync_read_bytes", 0);
  s.sync_keys = InfoInt(info, "master_sync_keys", 0);
  s.last_sync_bytes = InfoInt(info, "master_sync_last_bytes", 0);
  s.offset = s.is_replica ? InfoInt(info, "slave_repl_offset", 0) : InfoInt(info, "master_repl_offset", 0);
  s.last_error = InfoStr(info, "master_last_error");
  s.master_host = InfoStr(info, "master_host");
  s.master_port = static_cast<int>(InfoInt(info, "master_port", 0));
  s.full_syncs = InfoInt(stats, "replica_full_syncs", 0);
  s.partial_syncs = InfoInt(stats, "replica_partial_syncs", 0);
  if (server_) {
    // Keys loaded stay readable after the sync on the embedded server.
    s.sync_keys = static_cast<int64_t>(server_->repl_state().Get().sync_keys);
  }
  return s;
}

int64_t Target::KeyCount(std::string* per_db) {
  auto info = conn_.Info("keyspace");
  if (info.empty() && !conn_.connected()) return -1;
  int64_t keys = 0;
  for (const auto& [k, v] : info) {
    if (k.rfind("db", 0) != 0 || v.rfind("keys=", 0) != 0) continue;
    int64_t n = std::atoll(v.c_str() + 5);
    keys += n;
    if (per_db && n > 0) *per_db += (per_db->empty() ? "" : " ") + k + "=" + std::to_string(n);
  }
  return keys;
}

std::optional<std::string> Target::Save(std::string* path) {
  ReplyPtr r = conn_.Cmd({"SAVE"});
  if (!r) return conn_.error();
  if (IsError(r.get())) {
    std::string msg = ReplyText(r.get());
    if (msg.find("unknown command") != std::string::npos)
      return "this Darter build has no SAVE command yet (" + msg + "); no snapshot was written";
    return "SAVE on the target failed: " + msg;
  }
  ReplyPtr dir = conn_.Cmd({"CONFIG", "GET", "dir"});
  ReplyPtr file = conn_.Cmd({"CONFIG", "GET", "dbfilename"});
  std::string d = dir && dir->type == REDIS_REPLY_ARRAY && dir->elements == 2 ? ReplyText(dir->element[1]) : ".";
  std::string f = file && file->type == REDIS_REPLY_ARRAY && file->elements == 2 ? ReplyText(file->element[1]) : "dump.rdb";
  std::error_code ec;
  std::filesystem::path p = std::filesystem::path(d) / f;
  *path = server_ ? std::filesystem::absolute(p, ec).string() : p.string();
  return std::nullopt;
}

}  // namespace darter::migrate
