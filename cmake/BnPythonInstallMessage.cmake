# Run by `cmake --install` after the Python package is copied (see
# cmake/BnPython.cmake, which sets BN_PYTHON_SITEDIR_INSTALLED first): say
# where the package went, with the prefix given at install time, and whether
# Debian's /usr/bin/python3 searches that folder or needs PYTHONPATH.
set(_bn_site "${CMAKE_INSTALL_PREFIX}/${BN_PYTHON_SITEDIR_INSTALLED}")
message(STATUS "Python package bn installed in $ENV{DESTDIR}${_bn_site}/bn")
if(EXISTS /usr/bin/python3 AND "$ENV{DESTDIR}" STREQUAL "")
  execute_process(
    COMMAND /usr/bin/python3 -c
      "import os, sys; print(os.path.realpath(sys.argv[1]) in map(os.path.realpath, sys.path))"
      "${_bn_site}"
    OUTPUT_VARIABLE _bn_searched OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_bn_searched STREQUAL "True")
    message(STATUS "  /usr/bin/python3 searches ${_bn_site}: `import bn` works as it is")
  else()
    message(STATUS "  /usr/bin/python3 does not search ${_bn_site}: "
                   "export PYTHONPATH=${_bn_site} to `import bn`")
  endif()
endif()
