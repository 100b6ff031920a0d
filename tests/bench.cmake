# bench_mlp in a tiny configuration, so that CI builds the benchmark and runs
# it: the test checks that it runs (exit status 0), never a timing. Label
# bench (ctest -L bench). Not under the sanitizers: the benchmark interposes
# malloc to count allocations, which ASan and TSan also do.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT BN_SANITIZE AND NOT BN_TSAN)
  add_executable(bench_mlp_smoke ${PROJECT_SOURCE_DIR}/tests/bench/bench_mlp.c)
  target_link_libraries(bench_mlp_smoke PRIVATE bn PkgConfig::OPENBLAS bn_warnings)
  add_test(NAME bench_mlp_smoke
           COMMAND bench_mlp_smoke --batches 4 --threads 1 --reps 3 --budget 0.01)
  set_tests_properties(bench_mlp_smoke PROPERTIES LABELS bench)
endif()
