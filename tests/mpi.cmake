# Training across processes (libbn_mpi, bn train under mpirun), when MPI was
# built: the contract test under `mpirun --oversubscribe -np 2` and `-np 3`
# (plus --allow-run-as-root when the tests run as root, as in CI), and the
# Python binding's bn.distributed under mpirun -np 2.
if(TARGET bn_mpi AND MPIEXEC_EXECUTABLE)
  set(BN_MPIRUN ${MPIEXEC_EXECUTABLE} --oversubscribe)
  execute_process(COMMAND id -u OUTPUT_VARIABLE _bn_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_bn_uid STREQUAL "0")
    list(APPEND BN_MPIRUN --allow-run-as-root)
  endif()
  set(_bn_mpi_env
    "BN_LIBRARY=$<TARGET_FILE:bn>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1")
  # Open MPI's own allocations (some in plugins it unloads, so no name to
  # suppress) look like leaks to LeakSanitizer: the MPI tests run without
  # leak detection; libbn's side of the reducer is leak-checked in-process by
  # test_mlp_reducer (ranks as threads). ASan's other checks stay on.
  # The model comparison loads the instrumented libbn into Python, which
  # then needs the ASan runtime preloaded (as in tests/cli.cmake).
  if(BN_SANITIZE)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE _bn_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
    string(APPEND _bn_mpi_env ";ASAN_OPTIONS=detect_leaks=0;BN_PYTHON_PRELOAD=${_bn_asan}")
  endif()
  foreach(np 2 3)
    add_test(NAME mpi_cli_np${np}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/mpi_test.sh ${np} $<TARGET_FILE:bn_cli>
              /usr/bin/python3 ${CMAKE_CURRENT_BINARY_DIR}/mpi_cli_np${np} ${BN_MPIRUN})
    set_tests_properties(mpi_cli_np${np} PROPERTIES LABELS mpi TIMEOUT 300 RUN_SERIAL ON
      ENVIRONMENT "${_bn_mpi_env}")
  endforeach()
  # bn.distributed needs mpi4py; the test file skips visibly without it.
  add_test(NAME mpi_python_np2
    COMMAND ${BN_MPIRUN} -np 2 /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/python/mpi_distributed.py)
  set_tests_properties(mpi_python_np2 PROPERTIES LABELS mpi TIMEOUT 300 RUN_SERIAL ON
    ENVIRONMENT "${_bn_mpi_env}")
endif()
