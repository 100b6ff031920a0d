# Python install test as the ctest test `python_install` (included by
# tests/CMakeLists.txt): cmake --install into a temporary prefix, then
# `import bn` from <prefix>/<site dir> with no BN_LIBRARY must load the
# installed library, also after moving the prefix. See tests/python/install_check.py.
# Its name contains "python", so the sanitizer CI step (ctest -E python) skips it.
if(BN_INSTALL_PYTHON)
  add_test(NAME python_install
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/install_check.py
            --build ${PROJECT_BINARY_DIR}
            --work ${CMAKE_CURRENT_BINARY_DIR}/python_install
            --sitedir ${BN_PYTHON_INSTALL_DIR}
            --libdir ${CMAKE_INSTALL_LIBDIR}
            --cmake ${CMAKE_COMMAND})
  set_tests_properties(python_install PROPERTIES LABELS install)
endif()

# `pip install ./bindings/python` into a venv, offline (tests/python/pip_install_check.py);
# exit 77 = skipped when python3-venv/-setuptools/-wheel are missing.
add_test(NAME python_pip_install
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/pip_install_check.py
          --source ${PROJECT_SOURCE_DIR}/bindings/python
          --work ${CMAKE_CURRENT_BINARY_DIR}/python_pip_install
          --library $<TARGET_FILE:bn>)
set_tests_properties(python_pip_install PROPERTIES LABELS install SKIP_RETURN_CODE 77)
