# The Python examples of docs/examples/*.py as ctest tests (included by
# tests/CMakeLists.txt), each run quickly on the library just built. Each
# checks its own results and exits non-zero on a mismatch; exit code 77 means
# an optional dependency is missing (the test is reported as skipped). The
# names contain "python", so the sanitizer CI step (ctest -E python) skips them.
set(_bn_examples ${PROJECT_SOURCE_DIR}/docs/examples)
set(_bn_fmnist /usr/share/datasets/fashion-mnist)
set(_bn_python_env
  "BN_LIBRARY=$<TARGET_FILE:bn>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1")

add_test(NAME python_example_batchnorm_by_hand
  COMMAND /usr/bin/python3 ${_bn_examples}/batchnorm_by_hand.py)

# The Fashion-MNIST examples need Debian's dataset-fashion-mnist; a small,
# fast run proves they work (the documented runs use the whole set). They are
# registered on every machine: tests/python/run_fmnist_example.py exits 77
# (reported by ctest as skipped, naming the package) when the data is absent,
# and reads $BN_FASHION_MNIST_DIR instead of ${_bn_fmnist} when that is set.
set(_bn_fmnist_run /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/python/run_fmnist_example.py
    ${_bn_fmnist})
add_test(NAME python_example_train_fmnist
  COMMAND ${_bn_fmnist_run} ${_bn_examples}/train_fmnist.py --epochs 1 --train-samples 3000
          --save ${CMAKE_CURRENT_BINARY_DIR}/python_example_fmnist.bnm)
add_test(NAME python_example_plot_batchnorm_curves
  COMMAND ${_bn_fmnist_run} ${_bn_examples}/plot_batchnorm_curves.py --epochs 2
          --train-samples 2000 --output ${CMAKE_CURRENT_BINARY_DIR}/batchnorm_curves.png)
set(_bn_python_example_tests python_example_train_fmnist python_example_plot_batchnorm_curves)
set_tests_properties(${_bn_python_example_tests} PROPERTIES SKIP_RETURN_CODE 77)
if(NOT EXISTS ${_bn_fmnist}/train-images-idx3-ubyte.gz)
  message(STATUS "python examples: ${_bn_fmnist} not found (Debian package "
                 "dataset-fashion-mnist); the Fashion-MNIST example tests will be skipped")
endif()

set_tests_properties(python_example_batchnorm_by_hand ${_bn_python_example_tests}
  PROPERTIES ENVIRONMENT "${_bn_python_env}" LABELS example)
