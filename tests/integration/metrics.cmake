# GET /metrics: darter-server's page on its client port and on --metrics-port, and
# darter-migrate's --status-port during a --follow migration, each parsed with
# Prometheus's own text parser (python3-prometheus-client, metrics_check.py).
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(metrics_test metrics_test.cc TIMEOUT 180)
  add_dependencies(metrics_test darter-migrate)
  target_compile_definitions(metrics_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
