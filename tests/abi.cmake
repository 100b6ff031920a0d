# ABI compatibility against the committed baseline abi/libbn.abi (ctest
# `abi_compat`, label abi; see tests/check_abi.py). abidw reads DWARF, so the
# test exists only in builds with debug info and without sanitizers (CI:
# RelWithDebInfo, .ci/run). Renew the baseline (after bumping BN_ABI_VERSION
# for an incompatible change) with: cmake --build <dir> --target abi_baseline
if(NOT CMAKE_BUILD_TYPE MATCHES "^(Debug|RelWithDebInfo)$" OR BN_SANITIZE)
  return()
endif()
find_program(BN_ABIDW abidw)
set(BN_ABI_COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/check_abi.py
    --library $<TARGET_FILE:bn> --headers ${PROJECT_SOURCE_DIR}/include/bn
    --baseline ${PROJECT_SOURCE_DIR}/abi/libbn.abi)
add_test(NAME abi_compat COMMAND ${BN_ABI_COMMAND})
set_tests_properties(abi_compat PROPERTIES LABELS abi)
add_custom_target(abi_baseline COMMAND ${BN_ABI_COMMAND} --renew DEPENDS bn VERBATIM)
