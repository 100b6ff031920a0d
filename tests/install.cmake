# Install-consumer test: install this build tree into a temporary prefix, then
# build and run tests/install/consumer.c against the installed files, with
# pkg-config and with find_package(bn CONFIG), before and after moving the
# prefix elsewhere (both packages must be relocatable). See tests/install/run.sh.

# The consumer is compiled like the library (same compiler, same global flags,
# e.g. the sanitizers of BN_SANITIZE), so an instrumented libbn can be loaded.
get_property(_bn_global_copts DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY COMPILE_OPTIONS)
get_property(_bn_global_lopts DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY LINK_OPTIONS)
string(JOIN " " _bn_consumer_cflags ${CMAKE_C_FLAGS} ${_bn_global_copts})
string(JOIN " " _bn_consumer_ldflags ${_bn_global_lopts})

add_test(NAME install_consumer
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/run.sh)
set_tests_properties(install_consumer PROPERTIES
  LABELS install
  ENVIRONMENT "BN_BUILD_DIR=${PROJECT_BINARY_DIR};BN_CONSUMER_DIR=${CMAKE_CURRENT_SOURCE_DIR}/install;BN_WORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install_consumer;BN_LIBDIR=${CMAKE_INSTALL_LIBDIR};BN_VERSION=${PROJECT_VERSION};BN_SOVERSION=${BN_ABI_VERSION};BN_STATIC=$<BOOL:${BN_BUILD_STATIC}>;CC=${CMAKE_C_COMPILER};CFLAGS=${_bn_consumer_cflags};LDFLAGS=${_bn_consumer_ldflags};CMAKE=${CMAKE_COMMAND}")
