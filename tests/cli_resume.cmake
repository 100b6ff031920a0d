# bn train --resume (after cli.cmake, which sets _bn_py_preload) and --stop-after, the recipe in bn info (tests/cli/resume_test.sh).
add_test(NAME cli_resume
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/resume_test.sh $<TARGET_FILE:bn_cli>
          $<TARGET_FILE:cli_make_idx> ${CMAKE_CURRENT_BINARY_DIR}/cli_resume
          ${PROJECT_SOURCE_DIR}/bindings/python)
set_tests_properties(cli_resume PROPERTIES LABELS cli TIMEOUT 300
  ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/cli/lsan.supp;BN_LIBRARY=$<TARGET_FILE:bn>;PYTHONDONTWRITEBYTECODE=1;BN_PYTHON_PRELOAD=${_bn_py_preload}")
