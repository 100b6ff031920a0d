# -DBN_BUILD_FUZZ=ON: the libFuzzer harnesses of tests/fuzz. Everything (the
# library's objects included) is compiled with coverage instrumentation and
# ASan + UBSan so that the fuzzer sees the branches of the parsers it drives
# and any memory or undefined-behaviour error stops it with a reproducer.
# The bn program's readers and what they need, compiled into the harnesses
# that drive them (tests/fuzz) and into their regression replays (tests/fuzz.cmake).
set(BN_FUZZ_READER_SOURCES
  ${PROJECT_SOURCE_DIR}/src/cli/idx.c ${PROJECT_SOURCE_DIR}/src/cli/csv.c
  ${PROJECT_SOURCE_DIR}/src/cli/npy.c ${PROJECT_SOURCE_DIR}/src/cli/dataset.c
  ${PROJECT_SOURCE_DIR}/src/cli/args.c)
option(BN_BUILD_FUZZ "Build the libFuzzer harnesses of tests/fuzz (requires clang)" OFF)
if(BN_BUILD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BN_BUILD_FUZZ=ON needs clang (libFuzzer), not ${CMAKE_C_COMPILER_ID}: "
                        "configure a separate build directory with -DCMAKE_C_COMPILER=clang "
                        "(Debian: apt-get install clang libclang-rt-14-dev)")
  endif()
  if(BN_SANITIZE)
    message(FATAL_ERROR "BN_BUILD_FUZZ=ON already builds with ASan + UBSan: leave BN_SANITIZE off")
  endif()
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_c_source_compiles(
    "#include <stddef.h>
     #include <stdint.h>
     int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
    BN_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT BN_HAVE_LIBFUZZER)
    message(FATAL_ERROR "clang cannot link -fsanitize=fuzzer: install libFuzzer's runtime "
                        "(Debian: apt-get install libclang-rt-14-dev)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
