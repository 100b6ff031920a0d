# valgrind memcheck over the C tests (label memcheck; -DBN_VALGRIND=ON). Every
# C test executable runs once under memcheck (its ISA variants are the same
# code: valgrind's CPU has no AVX-512 anyway); any error or leak fails the
# test. The suppressions (tests/valgrind.supp) cover OpenBLAS and glibc
# internals only, each documented there. Left out, for time (each runs under
# the ASan and ThreadSanitizer steps instead): test_batchnorm_threads (2^22-
# element batches) and thread_many_callers (300 threads of GEMMs). For the
# same reason the memcheck runs set BN_TEST_UNDER_MEMCHECK, with which a test
# may skip a case on arrays of tens of MiB: test_folded_activation's
# test_large (the loops' chunked, prefetching and streaming walks), 190 of
# that test's 193 s under valgrind, and test_batchnorm_kernels' wide
# streamed walks. They still run in every other build, the AddressSanitizer
# one included.
option(BN_VALGRIND "Register the valgrind memcheck tests (label memcheck)" OFF)
if(NOT BN_VALGRIND)
  return()
endif()
find_program(BN_VALGRIND_COMMAND valgrind REQUIRED)
set(BN_MEMCHECK ${BN_VALGRIND_COMMAND} --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible
    --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind.supp --num-callers=30 --quiet)

set(BN_MEMCHECK_SKIP test_batchnorm_threads)
set(targets "")
foreach(source IN LISTS BN_C_TESTS BN_INTERNAL_TESTS)
  get_filename_component(name ${source} NAME_WE)
  if(TARGET ${name})
    list(APPEND targets ${name})
  elseif(TARGET internal_${name})
    list(APPEND targets internal_${name})
  endif()
endforeach()
list(APPEND targets test_alloc_failure test_thread_stress test_model_roundtrip)
list(REMOVE_ITEM targets ${BN_MEMCHECK_SKIP})
foreach(target IN LISTS targets)
  add_test(NAME memcheck_${target} COMMAND ${BN_MEMCHECK} $<TARGET_FILE:${target}>)
  set_tests_properties(memcheck_${target} PROPERTIES LABELS memcheck
                       ENVIRONMENT "BN_PARALLEL_MIN_ELEMENTS=64;BN_TEST_UNDER_MEMCHECK=1")
endforeach()
