# The `bn` program, end to end and on bad input, on a small IDX dataset that
# tests/cli/make_idx.c generates (the real Fashion-MNIST is never used).
add_executable(cli_make_idx ${CMAKE_CURRENT_SOURCE_DIR}/cli/make_idx.c)
target_link_libraries(cli_make_idx PRIVATE PkgConfig::ZLIB)
foreach(mode e2e errors)
  add_test(NAME cli_${mode}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.sh ${mode} $<TARGET_FILE:bn_cli>
            $<TARGET_FILE:cli_make_idx> ${CMAKE_CURRENT_BINARY_DIR}/cli_${mode})
  set_tests_properties(cli_${mode} PROPERTIES LABELS cli TIMEOUT 300)
endforeach()

# The CSV reader's rules and bn predict's atomic --output (bash and awk only).
foreach(mode csv output)
  add_test(NAME cli_${mode}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/csv_test.sh ${mode} $<TARGET_FILE:bn_cli>
            ${CMAKE_CURRENT_BINARY_DIR}/cli_${mode})
  set_tests_properties(cli_${mode} PROPERTIES LABELS cli TIMEOUT 300)
endforeach()

# Keras' conventions and .npy input, checked with numpy and the Python binding.
# Under BN_SANITIZE the Python checks load an instrumented libbn, which needs
# the ASan runtime preloaded into the interpreter (the bn program itself is
# checked by the sanitizers as usual).
set(_bn_py_preload "")
if(BN_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _bn_py_preload OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
foreach(mode keras npy)
  add_test(NAME cli_${mode}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/keras_test.sh ${mode} $<TARGET_FILE:bn_cli>
            $<TARGET_FILE:cli_make_idx> /usr/bin/python3 ${CMAKE_CURRENT_BINARY_DIR}/cli_${mode})
  set_tests_properties(cli_${mode} PROPERTIES LABELS cli TIMEOUT 300
    ENVIRONMENT "BN_LIBRARY=$<TARGET_FILE:bn>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1;BN_PYTHON_PRELOAD=${_bn_py_preload}")
endforeach()
