# Every external dependency is found through pkg-config; a missing one stops
# the configure step with the Debian package that provides it.
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config was not found. On Debian: apt-get install pkg-config")
endif()

function(bn_require_module prefix module debian_package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR
      "libbn needs '${module}' (found through pkg-config) and it is missing.\n"
      "On Debian: apt-get install ${debian_package}")
  endif()
endfunction()

bn_require_module(OPENBLAS openblas libopenblas-dev)
bn_require_module(ZLIB zlib zlib1g-dev) # the bn program reads gzipped IDX datasets
if(BN_BUILD_TESTS)
  bn_require_module(CMOCKA cmocka libcmocka-dev)
endif()
