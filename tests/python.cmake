# The Python binding's pytest suite as the ctest test `python`.
# Included by tests/CMakeLists.txt. Uses the machine's Debian interpreter
# explicitly (never whichever python3 is first on PATH) and the library just
# built, through BN_LIBRARY.
set(BN_PYTHON /usr/bin/python3)

if(NOT EXISTS ${BN_PYTHON})
  message(WARNING "python tests: ${BN_PYTHON} not found; install the Debian packages "
                  "python3, python3-numpy and python3-pytest. The ctest test 'python' will fail.")
else()
  execute_process(COMMAND ${BN_PYTHON} -c "import pytest"
                  RESULT_VARIABLE bn_no_pytest OUTPUT_QUIET ERROR_QUIET)
  execute_process(COMMAND ${BN_PYTHON} -c "import numpy"
                  RESULT_VARIABLE bn_no_numpy OUTPUT_QUIET ERROR_QUIET)
  if(bn_no_pytest)
    message(WARNING "python tests: ${BN_PYTHON} cannot import pytest; install the Debian "
                    "package python3-pytest (apt-get install python3-pytest). "
                    "The ctest test 'python' will fail until then.")
  endif()
  if(bn_no_numpy)
    message(WARNING "python tests: ${BN_PYTHON} cannot import numpy; install the Debian "
                    "package python3-numpy (apt-get install python3-numpy). "
                    "The ctest test 'python' will fail until then.")
  endif()
endif()

# Registered unconditionally: a missing interpreter or module fails loudly.
# No cache or bytecode is written into the source tree.
add_test(NAME python
         COMMAND ${BN_PYTHON} -m pytest -q -p no:cacheprovider ${PROJECT_SOURCE_DIR}/tests/python)
set_tests_properties(python PROPERTIES
  ENVIRONMENT "BN_LIBRARY=$<TARGET_FILE:bn>;BN_CLI=$<TARGET_FILE:bn_cli>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1")
