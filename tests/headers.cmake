# The public headers from C++ (ctest `cxx_headers`, label abi): one C++
# translation unit including every include/bn/*.h (and bn/bn_mpi.h when
# libbn_mpi is built), compiled with
# -Wall -Wextra -pedantic -Werror at C++11 and C++20, linked against libbn
# and run (it calls the C functions through the headers' extern "C").
# C++ is enabled for this test only; the library stays C.
include(CheckLanguage)
check_language(CXX)
if(NOT CMAKE_CXX_COMPILER)
  # A missing compiler must fail the suite, not hide the test.
  add_test(NAME cxx_headers COMMAND ${CMAKE_COMMAND} -E echo "no C++ compiler (install g++)")
  set_tests_properties(cxx_headers PROPERTIES WILL_FAIL ON LABELS abi)
  return()
endif()
enable_language(CXX)

file(GLOB BN_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/bn/*.h)
set(includes "")
foreach(header IN LISTS BN_PUBLIC_HEADERS)
  get_filename_component(name ${header} NAME)
  string(APPEND includes "#include <bn/${name}>\n")
endforeach()
# libbn_mpi's header is public too (installed as <bn/bn_mpi.h>) when it is built.
if(TARGET bn_mpi)
  string(APPEND includes "#include <bn/bn_mpi.h>\n")
endif()
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/all_headers.hpp CONTENT "${includes}" @ONLY)

foreach(standard 11 20)
  set(target cxx_headers_${standard})
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/cxx/all_headers.cpp)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${target} PRIVATE bn $<TARGET_NAME_IF_EXISTS:bn_mpi>)
  # mpi.h from C++ also declares MPI's deprecated C++ bindings (Open MPI,
  # MPICH) unless told not to; bn/bn_mpi.h needs only the C API.
  target_compile_definitions(${target} PRIVATE OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)
  target_compile_options(${target} PRIVATE -Wall -Wextra -pedantic -Werror)
  set_target_properties(${target} PROPERTIES CXX_STANDARD ${standard} CXX_STANDARD_REQUIRED ON
                                             CXX_EXTENSIONS OFF)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES LABELS abi)
endforeach()
