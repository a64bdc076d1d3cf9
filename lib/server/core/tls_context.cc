#include "server/core/tls_context.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "store/string_util.h"

namespace darter::server::net {

namespace {

constexpr int kTlsV1 = 1, kTlsV11 = 2, kTlsV12 = 4, kTlsV13 = 8;

// Redis's parseProtocolsConfig: words split at single spaces, case-insensitive; empty
// means TLSv1.2 and TLSv1.3.
std::optional<int> ParseProtocols(const std::string& text, std::string* error) {
  if (text.empty()) return kTlsV12 | kTlsV13;
  int protocols = 0;
  size_t start = 0;
  while (true) {
    size_t sp = text.find(' ', start);
    std::string_view w = std::string_view(text).substr(start, sp == std::string::npos ? std::string::npos : sp - start);
    if (store::EqualsIgnoreCase(w, "tlsv1")) protocols |= kTlsV1;
    else if (store::EqualsIgnoreCase(w, "tlsv1.1")) protocols |= kTlsV11;
    else if (store::EqualsIgnoreCase(w, "tlsv1.2")) protocols |= kTlsV12;
    else if (store::EqualsIgnoreCase(w, "tlsv1.3")) protocols |= kTlsV13;
    else {
      *error = "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.";
      return std::nullopt;
    }
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  return protocols;
}

// The oldest OpenSSL error queued, as ERR_error_string_n formats it; clears the queue so
// the next failure does not report this one.
std::string OpenSslError() {
  char buf[256] = "unknown error";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Owns an SSL_CTX until handed to asio::ssl::context.
struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

// The passphrase for the key being loaded (OpenSSL asks through a callback).
int PassphraseCallback(char* buf, int size, int, void* user) {
  const std::string* pass = static_cast<const std::string*>(user);
  if (!pass || pass->empty() || pass->size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, pass->data(), pass->size());
  return static_cast<int>(pass->size());
}

// What both sides share (Redis's createSSLContext): protocols, certificate and key (when
// given), CA, ciphers. Verification is on (peer certificate required); the server
// relaxes it per connection under tls-auth-clients, the client under
// tls-replication-insecure.
std::optional<std::string> BaseContext(const ServerOptions& o, int protocols, const std::string& cert,
                                       const std::string& key, const std::string& pass, CtxPtr* out) {
  CtxPtr ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return "Failed to create SSL context: " + OpenSslError();
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_options(c, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION);
#ifdef SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS
  SSL_CTX_set_options(c, SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS);
#endif
  if (!(protocols & kTlsV1)) SSL_CTX_set_options(c, SSL_OP_NO_TLSv1);
  if (!(protocols & kTlsV11)) SSL_CTX_set_options(c, SSL_OP_NO_TLSv1_1);
  if (!(protocols & kTlsV12)) SSL_CTX_set_options(c, SSL_OP_NO_TLSv1_2);
  if (!(protocols & kTlsV13)) SSL_CTX_set_options(c, SSL_OP_NO_TLSv1_3);
  // TLSv1 and TLSv1.1 need security level 0 in OpenSSL 3; asked for, they get it.
  if (protocols & (kTlsV1 | kTlsV11)) SSL_CTX_set_security_level(c, 0);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One recv(2) brings in whatever is there, not a record header then its body.
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  ERR_clear_error();
  if (!cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) <= 0)
      return "Failed to load certificate: " + cert + ": " + OpenSslError();
  }
  if (!key.empty()) {
    // The passphrase lives in `pass` only while the key loads.
    SSL_CTX_set_default_passwd_cb(c, PassphraseCallback);
    SSL_CTX_set_default_passwd_cb_userdata(c, const_cast<std::string*>(&pass));
    int rc = SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(c, nullptr);
    SSL_CTX_set_default_passwd_cb(c, nullptr);
    if (rc <= 0) return "Failed to load private key: " + key + ": " + OpenSslError();
    if (!cert.empty() && SSL_CTX_check_private_key(c) <= 0)
      return "Failed to load private key: " + key + ": " + OpenSslError();
  }
  if (!o.tls_ca_cert_file.empty() || !o.tls_ca_cert_dir.empty()) {
    const char* file = o.tls_ca_cert_file.empty() ? nullptr : o.tls_ca_cert_file.c_str();
    const char* dir = o.tls_ca_cert_dir.empty() ? nullptr : o.tls_ca_cert_dir.c_str();
    if (SSL_CTX_load_verify_locations(c, file, dir) <= 0)
      return "Failed to configure CA certificate(s) file/directory: " + OpenSslError();
  }
  if (!o.tls_ciphers.empty() && !SSL_CTX_set_cipher_list(c, o.tls_ciphers.c_str())) {
    ERR_clear_error();
    return "Failed to configure ciphers: " + o.tls_ciphers;
  }
  if (!o.tls_ciphersuites.empty() && !SSL_CTX_set_ciphersuites(c, o.tls_ciphersuites.c_str())) {
    ERR_clear_error();
    return "Failed to configure ciphersuites: " + o.tls_ciphersuites;
  }
  *out = std::move(ctx);
  return std::nullopt;
}

std::optional<std::string> LoadDhParams(SSL_CTX* c, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "Failed to load " + path + ": " + std::strerror(errno);
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx =
      OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, "DH", OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS, nullptr, nullptr);
  if (!dctx) {
    std::fclose(f);
    return std::string("No decoder for DH params.");
  }
  int ok = OSSL_DECODER_from_fp(dctx, f);
  OSSL_DECODER_CTX_free(dctx);
  std::fclose(f);
  if (!ok) {
    ERR_clear_error();
    return path + ": failed to read DH params.";
  }
  if (SSL_CTX_set0_tmp_dh_pkey(c, pkey) <= 0) {  // owns pkey on success only
    EVP_PKEY_free(pkey);
    return "Failed to load DH params file: " + path + ": " + OpenSslError();
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> ClientAuthVerifyMode(const std::string& v) {
  if (store::EqualsIgnoreCase(v, "yes")) return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (store::EqualsIgnoreCase(v, "optional")) return SSL_VERIFY_PEER;
  if (store::EqualsIgnoreCase(v, "no")) return SSL_VERIFY_NONE;
  return std::nullopt;
}

std::optional<std::string> BuildTlsContexts(const ServerOptions& o, TlsContexts* out) {
  std::string error;
  auto protocols = ParseProtocols(o.tls_protocols, &error);
  if (!protocols) return error;
  const bool ca = !o.tls_ca_cert_file.empty() || !o.tls_ca_cert_dir.empty();
  TlsContexts built;
  if (o.tls_port != 0) {
    // Redis's rules for a TLS listener.
    if (o.tls_cert_file.empty()) return std::string("No tls-cert-file configured!");
    if (o.tls_key_file.empty()) return std::string("No tls-key-file configured!");
    const bool verifying = !store::EqualsIgnoreCase(o.tls_auth_clients, "no") ||
                           (o.tls_replication && !o.tls_replication_insecure);
    if (verifying && !ca)
      return std::string(
          "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or "
          "tls-auth-clients are enabled!");
    CtxPtr ctx;
    if (auto err = BaseContext(o, *protocols, o.tls_cert_file, o.tls_key_file, o.tls_key_file_pass, &ctx)) return err;
    SSL_CTX* c = ctx.get();
    if (o.tls_session_caching) {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
      SSL_CTX_sess_set_cache_size(c, static_cast<long>(o.tls_session_cache_size));
      SSL_CTX_set_timeout(c, static_cast<long>(o.tls_session_cache_timeout));
      static const unsigned char kSessionContext[] = "darter";
      SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
    } else {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(c, 0);
    }
    // OpenSSL 3 refuses client-initiated renegotiation unless allowed; older ones need asking.
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
    SSL_CTX_set_options(c, SSL_OP_NO_CLIENT_RENEGOTIATION);
#endif
    SSL_CTX_set_options(c, SSL_OP_SINGLE_DH_USE);
    if (o.tls_prefer_server_ciphers) SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!o.tls_dh_params_file.empty()) {
      if (auto err = LoadDhParams(c, o.tls_dh_params_file)) return err;
    } else {
      SSL_CTX_set_dh_auto(c, 1);
    }
    built.server = std::make_shared<asio::ssl::context>(ctx.release());
  }
  if (o.tls_replication) {
    // The client side presents tls-client-cert-file when both it and its key are set,
    // else tls-cert-file (Redis's rule); a replica with neither presents nothing, which a
    // primary with tls-auth-clients no accepts.
    const bool own = !o.tls_client_cert_file.empty() && !o.tls_client_key_file.empty();
    const std::string& cert = own ? o.tls_client_cert_file : o.tls_cert_file;
    const std::string& key = own ? o.tls_client_key_file : o.tls_key_file;
    const std::string& pass = own ? o.tls_client_key_file_pass : o.tls_key_file_pass;
    if (!o.tls_replication_insecure && !ca)
      return std::string(
          "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or "
          "tls-auth-clients are enabled!");
    if (cert.empty() != key.empty())
      return std::string(cert.empty() ? "No tls-cert-file configured!" : "No tls-key-file configured!");
    CtxPtr ctx;
    if (auto err = BaseContext(o, *protocols, cert, key, pass, &ctx)) return err;
    built.client = std::make_shared<asio::ssl::context>(ctx.release());
  }
  *out = std::move(built);
  return std::nullopt;
}

std::optional<std::string> TlsContextStore::Configure(const ServerOptions& o) {
  TlsContexts next;
  if (TlsWanted(o)) {
    if (auto err = BuildTlsContexts(o, &next)) return err;
  }
  std::lock_guard lk(mu_);
  current_ = std::move(next);
  return std::nullopt;
}

TlsContexts TlsContextStore::Current() const {
  std::lock_guard lk(mu_);
  return current_;
}

}  // namespace darter::server::net
