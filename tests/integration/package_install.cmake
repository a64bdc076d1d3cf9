# The .deb (CPack) built, checked, installed with dpkg (as root) and served from.
if(TARGET darter-server AND TARGET darter-migrate AND TARGET darter-rdb)
  add_test(NAME package_install_test
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package_install_test.sh ${PROJECT_BINARY_DIR} ${CMAKE_CPACK_COMMAND})
  set_tests_properties(package_install_test PROPERTIES TIMEOUT 300 LABELS package)
endif()
