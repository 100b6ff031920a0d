# Unit tests of internal functions (not exported from libbn.so): each
# tests/internal/test_*.c links the library's objects directly.
file(GLOB BN_INTERNAL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/internal/test_*.c)
foreach(source IN LISTS BN_INTERNAL_TESTS)
  get_filename_component(name ${source} NAME_WE)
  set(target internal_${name})
  add_executable(${target} ${source} $<TARGET_OBJECTS:bn_objects>)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include
                                               ${PROJECT_BINARY_DIR}/include)
  target_link_libraries(${target} PRIVATE PkgConfig::CMOCKA PkgConfig::OPENBLAS Threads::Threads
                                          bn_warnings m)
  add_test(NAME ${target} COMMAND ${target})
endforeach()
