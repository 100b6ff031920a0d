# Allocation-failure test (ctest `alloc_failure`, label reliability): a copy
# of libbn linked with -Wl,--wrap for malloc, calloc, realloc, free,
# posix_memalign, aligned_alloc and pthread_create, so that the n-th such
# call made by libbn's own code fails on demand (tests/reliability/
# failing_alloc.c); no source file of the library knows about it.
set(BN_WRAPPED malloc calloc realloc free posix_memalign aligned_alloc pthread_create)
list(TRANSFORM BN_WRAPPED PREPEND "LINKER:--wrap=" OUTPUT_VARIABLE BN_WRAP_OPTIONS)

add_library(bn_failalloc SHARED $<TARGET_OBJECTS:bn_objects>
            ${CMAKE_CURRENT_SOURCE_DIR}/reliability/failing_alloc.c)
target_include_directories(bn_failalloc PUBLIC ${PROJECT_SOURCE_DIR}/include
                                               ${PROJECT_BINARY_DIR}/include)
target_link_libraries(bn_failalloc PRIVATE PkgConfig::OPENBLAS m Threads::Threads bn_warnings)
target_link_options(bn_failalloc PRIVATE ${BN_WRAP_OPTIONS})
set_target_properties(bn_failalloc PROPERTIES C_VISIBILITY_PRESET hidden)

add_executable(test_alloc_failure ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_alloc_failure.c)
target_include_directories(test_alloc_failure PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/c/support
                                                      ${CMAKE_CURRENT_SOURCE_DIR}/reliability)
target_link_libraries(test_alloc_failure PRIVATE bn_failalloc PkgConfig::CMOCKA bn_warnings m)
add_test(NAME alloc_failure COMMAND test_alloc_failure)
# Small batches still split over the BatchNorm layer's threads, so their
# creation can fail too.
set_tests_properties(alloc_failure PROPERTIES LABELS reliability
                     ENVIRONMENT "BN_PARALLEL_MIN_ELEMENTS=64")
