# Install the Python binding (bindings/python/bn) into the prefix's Python
# package directory, so `python3 -c "import bn"` works after a system-wide
# install, and tell the installed package where the installed library is.
#
#   BN_INSTALL_PYTHON    install the binding (default ON)
#   BN_PYTHON_SITEDIR    package directory relative to the prefix; empty (the
#                        default) asks Debian's /usr/bin/python3 which of its
#                        sys.path entries lies under CMAKE_INSTALL_PREFIX
#                        (lib/python3/dist-packages for /usr,
#                        lib/python3.N/dist-packages for /usr/local), and
#                        falls back to lib/python3/dist-packages for any other
#                        prefix (then add that directory to PYTHONPATH).
#
# The installed package gets a generated bn/_config.py holding the library's
# directory relative to the package, so the binding finds the installed
# libbn.so.1 without BN_LIBRARY, also after the prefix is moved.
option(BN_INSTALL_PYTHON "Install the Python binding into the prefix's site-packages" ON)
set(BN_PYTHON_SITEDIR "" CACHE STRING
    "Python package directory relative to the install prefix (empty: ask /usr/bin/python3)")

if(BN_INSTALL_PYTHON)
  set(_bn_sitedir "${BN_PYTHON_SITEDIR}")
  if(_bn_sitedir STREQUAL "" AND EXISTS /usr/bin/python3)
    execute_process(
      COMMAND /usr/bin/python3 -c [=[
import os, sys
prefix = os.path.realpath(sys.argv[1])
for d in sys.path:
    rel = os.path.relpath(os.path.realpath(d), prefix) if d else ""
    if rel.startswith("lib" + os.sep) and rel.endswith(("dist-packages", "site-packages")):
        print(rel)
        break
]=] "${CMAKE_INSTALL_PREFIX}"
      OUTPUT_VARIABLE _bn_sitedir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  if(_bn_sitedir STREQUAL "")
    set(_bn_sitedir lib/python3/dist-packages)
  endif()
  if(IS_ABSOLUTE "${_bn_sitedir}")
    message(FATAL_ERROR "BN_PYTHON_SITEDIR must be relative to the prefix, got ${_bn_sitedir}")
  endif()
  set(BN_PYTHON_INSTALL_DIR "${_bn_sitedir}" CACHE INTERNAL "Python package dir (relative)")

  # Library directory as seen from the installed package directory.
  file(RELATIVE_PATH _bn_pkg_to_lib
       /prefix/${_bn_sitedir}/bn /prefix/${CMAKE_INSTALL_LIBDIR})
  string(REGEX REPLACE "/$" "" _bn_pkg_to_lib "${_bn_pkg_to_lib}")
  if(_bn_pkg_to_lib STREQUAL "")
    set(_bn_pkg_to_lib .)
  endif()
  set(_bn_config ${PROJECT_BINARY_DIR}/bindings/python/bn/_config.py)
  file(CONFIGURE OUTPUT ${_bn_config} CONTENT [=["""Written by cmake --install (cmake/BnPython.cmake); absent from the source tree.

Where the installed libbn is, relative to this package's directory."""

LIBRARY_DIR = "@_bn_pkg_to_lib@"
LIBRARY_NAME = "libbn.so.@BN_ABI_VERSION@"
]=] @ONLY)

  install(DIRECTORY ${PROJECT_SOURCE_DIR}/bindings/python/bn
          DESTINATION ${_bn_sitedir} COMPONENT python
          FILES_MATCHING PATTERN "*.py" PATTERN "py.typed"
          PATTERN "__pycache__" EXCLUDE
          PATTERN "_config.py" EXCLUDE)
  install(FILES ${_bn_config} DESTINATION ${_bn_sitedir}/bn COMPONENT python)
  # Print the folder (with the prefix given to cmake --install) and whether
  # python3 searches it.
  install(CODE "set(BN_PYTHON_SITEDIR_INSTALLED \"${_bn_sitedir}\")" COMPONENT python)
  install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/BnPythonInstallMessage.cmake COMPONENT python)
endif()
