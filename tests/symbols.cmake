# ABI symbol check as the ctest test `symbols` (included by tests/CMakeLists.txt):
# libbn.so exports only bn_* functions, and exactly the functions declared
# with BN_API in include/bn/*.h. See tests/check_symbols.py.
# Uses the machine's Debian interpreter explicitly, like tests/python.cmake;
# a missing interpreter or nm makes the test fail, not vanish.
set(BN_SYMBOLS_PYTHON /usr/bin/python3)
if(CMAKE_NM)
  set(BN_SYMBOLS_NM ${CMAKE_NM})
else()
  set(BN_SYMBOLS_NM nm)
endif()

add_test(NAME symbols
  COMMAND ${BN_SYMBOLS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.py
          --nm ${BN_SYMBOLS_NM}
          --library $<TARGET_FILE:bn>
          --include ${PROJECT_SOURCE_DIR}/include/bn
          --map ${PROJECT_BINARY_DIR}/libbn.map)
set_tests_properties(symbols PROPERTIES LABELS abi)

# libbn_mpi, when built: only its bn_mpi_* functions, each declared with BN_MPI_API.
if(TARGET bn_mpi)
  add_test(NAME symbols_mpi
    COMMAND ${BN_SYMBOLS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.py
            --nm ${BN_SYMBOLS_NM}
            --library $<TARGET_FILE:bn_mpi>
            --include ${PROJECT_SOURCE_DIR}/src/mpi
            --api-macro BN_MPI_API)
  set_tests_properties(symbols_mpi PROPERTIES LABELS "abi;mpi")
endif()
