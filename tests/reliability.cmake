# A copy of libbn (target NAME) whose calls to the given libc functions go
# to __wrap_* in SOURCE, and a cmocka test TEST linked with it.
function(bn_wrapped_test name source test)
  list(TRANSFORM ARGN PREPEND "LINKER:--wrap=" OUTPUT_VARIABLE wrap_options)
  add_library(${name} SHARED $<TARGET_OBJECTS:bn_objects>
              ${CMAKE_CURRENT_SOURCE_DIR}/reliability/${source})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                            ${PROJECT_BINARY_DIR}/include)
  target_link_libraries(${name} PRIVATE PkgConfig::OPENBLAS m Threads::Threads bn_warnings)
  target_link_options(${name} PRIVATE ${wrap_options})
  set_target_properties(${name} PROPERTIES C_VISIBILITY_PRESET hidden)
  add_executable(${test} ${CMAKE_CURRENT_SOURCE_DIR}/reliability/${test}.c)
  target_include_directories(${test} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/c/support
                                             ${CMAKE_CURRENT_SOURCE_DIR}/reliability)
  target_link_libraries(${test} PRIVATE ${name} PkgConfig::CMOCKA bn_warnings m)
endfunction()


# Allocation-failure test (ctest `alloc_failure`, label reliability): a copy
# of libbn linked with -Wl,--wrap for malloc, calloc, realloc, free,
# posix_memalign, aligned_alloc and pthread_create, so that the n-th such
# call made by libbn's own code fails on demand (tests/reliability/
# failing_alloc.c); no source file of the library knows about it.
bn_wrapped_test(bn_failalloc failing_alloc.c test_alloc_failure
                malloc calloc realloc free posix_memalign aligned_alloc pthread_create)
add_test(NAME alloc_failure COMMAND test_alloc_failure)
# Small batches still split over the BatchNorm layer's threads, so their
# creation can fail too.
set_tests_properties(alloc_failure PROPERTIES LABELS reliability
                     ENVIRONMENT "BN_PARALLEL_MIN_ELEMENTS=64")

# The same for libbn_mpi (ctest `alloc_failure_mpi`, when MPI is built): a
# copy of it, wrapped the same way and linked against libbn_failalloc, whose
# counters it shares; test_alloc_failure.c built with BNT_WITH_MPI runs
# bn_mpi_attach and training through the attachment on MPI_COMM_WORLD of
# one process (its own allocations; with one rank the reducer is never
# called, so merge_blocks' allocation is not reached: docs/reliability.md).
# (BN_MPIRUN comes from mpi.cmake, included before this file: the families
# are included in sorted order.)
if(TARGET bn_mpi AND BN_MPIRUN)
  add_library(bn_mpi_failalloc SHARED ${PROJECT_SOURCE_DIR}/src/mpi/bn_mpi.c)
  target_link_libraries(bn_mpi_failalloc PUBLIC bn_failalloc MPI::MPI_C PRIVATE bn_warnings m)
  target_link_options(bn_mpi_failalloc PRIVATE LINKER:--wrap=malloc LINKER:--wrap=calloc
                      LINKER:--wrap=realloc LINKER:--wrap=free)
  set_target_properties(bn_mpi_failalloc PROPERTIES C_VISIBILITY_PRESET hidden)
  add_executable(test_alloc_failure_mpi
                 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_alloc_failure.c)
  target_compile_definitions(test_alloc_failure_mpi PRIVATE BNT_WITH_MPI=1)
  target_include_directories(test_alloc_failure_mpi PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/c/support ${CMAKE_CURRENT_SOURCE_DIR}/reliability
    ${PROJECT_SOURCE_DIR}/src/mpi)
  target_link_libraries(test_alloc_failure_mpi PRIVATE bn_mpi_failalloc PkgConfig::CMOCKA
                                                       bn_warnings m)
  add_test(NAME alloc_failure_mpi COMMAND ${BN_MPIRUN} -np 1 $<TARGET_FILE:test_alloc_failure_mpi>)
  # Open MPI's own blocks look like leaks to LeakSanitizer (tests/mpi.cmake);
  # libbn's and libbn_mpi's blocks are counted by the wrappers instead.
  set_tests_properties(alloc_failure_mpi PROPERTIES LABELS "reliability;mpi" RUN_SERIAL ON
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endif()

# Threads (label threads; the ThreadSanitizer CI step runs this label):
# distinct handles on distinct threads equal sequential runs, and MANY
# concurrent dense layers (past OpenBLAS's buffer table) neither crash nor
# print (src/core/blas.c).
add_executable(test_thread_stress ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_thread_stress.c)
target_include_directories(test_thread_stress PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/c/support)
target_link_libraries(test_thread_stress PRIVATE bn PkgConfig::CMOCKA Threads::Threads
                                                 bn_warnings m)
add_test(NAME thread_stress COMMAND test_thread_stress)
add_test(NAME thread_many_callers COMMAND test_thread_stress many)
set_tests_properties(thread_stress thread_many_callers PROPERTIES
  LABELS "reliability;threads"
  ENVIRONMENT "BN_PARALLEL_MIN_ELEMENTS=64"
  FAIL_REGULAR_EXPRESSION "OpenBLAS|WARNING: ThreadSanitizer")
# (test_batchnorm_threads, which needs 2^22-element batches to split, takes
# 30 s in Release: too slow for ThreadSanitizer; thread_stress splits small
# batches through BN_PARALLEL_MIN_ELEMENTS instead.)
if(TARGET test_threads)
  set_property(TEST test_threads APPEND PROPERTY LABELS threads)
endif()

# Model files keep whatever the MLP accepts or produces (regressions of the
# Adam second-moment overflow and the step-count bound; a property test over
# random call sequences with extreme values).
add_executable(test_model_roundtrip ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_model_roundtrip.c)
target_include_directories(test_model_roundtrip PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/c/support)
target_link_libraries(test_model_roundtrip PRIVATE bn PkgConfig::CMOCKA bn_warnings m)
add_test(NAME model_roundtrip COMMAND test_model_roundtrip)
set_tests_properties(model_roundtrip PROPERTIES LABELS reliability)

# Saving never loses the previous file (ctest `save_safety`, label
# reliability): a copy of libbn whose write, fsync and rename can fail on
# demand (tests/reliability/failing_io.c, -Wl,--wrap), plus failures from
# outside (RLIMIT_FSIZE, SIGKILL during a save), permissions and symlinks.
bn_wrapped_test(bn_failio failing_io.c test_save_safety write fsync rename)
add_test(NAME save_safety COMMAND test_save_safety)
set_tests_properties(save_safety PROPERTIES LABELS reliability)
