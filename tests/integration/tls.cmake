# TLS: the TLS port, client certificates, certificate reload, replication over TLS with
# Redis and Darter (certificates made at test time by the openssl CLI).
if(TARGET darter-server)
  darter_integration_test(tls_test tls_test.cc support/tls_client.cc TIMEOUT 180)
  find_package(OpenSSL REQUIRED)
  target_link_libraries(tls_test PRIVATE OpenSSL::SSL OpenSSL::Crypto)
endif()
