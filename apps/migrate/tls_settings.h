// TlsSettings: how darter-migrate (and, for the source, the target's replica link)
// speaks TLS to one peer. Verification is on unless `insecure` is set: the peer's
// certificate must chain to the CA file / directory given (or, when neither is given,
// the system's trust store) and name the host connected to (or `sni` when set).
//
// Thread-safety: a value type.
#pragma once

#include <string>

namespace darter::migrate {

struct TlsSettings {
  bool enabled = false;        // rediss://
  std::string ca_cert_file;    // PEM bundle of trusted CAs ("" with ca_cert_dir "": the system store)
  std::string ca_cert_dir;     // OpenSSL hashed directory of trusted CAs
  std::string cert_file;       // client certificate (chain) to present, or ""
  std::string key_file;        // its private key (unencrypted PEM)
  std::string sni;             // server name to send and check the certificate against ("" = the host)
  bool insecure = false;       // skip certificate verification (said loudly in the report)
  // The flag prefix for messages ("--tls-" or "--target-tls-"), so an error can name
  // the option that fixes it.
  std::string flag_prefix = "--tls-";

  bool system_store() const { return ca_cert_file.empty() && ca_cert_dir.empty(); }
};

}  // namespace darter::migrate
