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
