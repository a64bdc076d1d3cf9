# The fuzz targets replayed with a plain main() in every build (tests/fuzz/replay.cmake).
# This tree is the one every build configures, so the hook lives here.
include(${PROJECT_SOURCE_DIR}/tests/fuzz/replay.cmake)
