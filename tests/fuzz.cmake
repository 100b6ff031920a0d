# Every input a fuzz harness once failed on (tests/fuzz/regressions/HARNESS.inc)
# replayed through that harness in ordinary builds: ctest fuzz_replay_HARNESS
# (labels fuzz, reliability). The fuzzing itself is -DBN_BUILD_FUZZ=ON
# (tests/fuzz/CMakeLists.txt).
file(GLOB BN_FUZZ_REGRESSION_FILES CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regressions/*.inc)
foreach(inc IN LISTS BN_FUZZ_REGRESSION_FILES)
  get_filename_component(harness ${inc} NAME_WE)
  set(target fuzz_replay_${harness})
  add_executable(${target} fuzz/replay.c fuzz/fuzz_${harness}.c $<TARGET_OBJECTS:bn_objects>)
  if(harness MATCHES "^(idx|csv|npy)$")
    target_sources(${target} PRIVATE ${BN_FUZZ_READER_SOURCES})
  endif()
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE
                             BN_FUZZ_REGRESSION_FILE="regressions/${harness}.inc")
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
  target_link_libraries(${target} PRIVATE PkgConfig::OPENBLAS PkgConfig::ZLIB Threads::Threads
                                          bn_warnings m)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES LABELS "fuzz;reliability")
endforeach()
