# Install the library, headers, pkg-config file and CMake package. Both the
# .pc file and the CMake package are relocatable: they locate the prefix from
# their own installed path.
include(CMakePackageConfigHelpers)

set(BN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bn)
set(BN_INSTALL_TARGETS bn)
if(BN_BUILD_STATIC)
  list(APPEND BN_INSTALL_TARGETS bn_static)
endif()

install(TARGETS ${BN_INSTALL_TARGETS} EXPORT bnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/bn
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/bn/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/bn COMPONENT development)

install(EXPORT bnTargets NAMESPACE bn:: DESTINATION ${BN_CMAKE_DIR} COMPONENT development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/bnConfig.cmake INSTALL_DESTINATION ${BN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bnConfig.cmake ${PROJECT_BINARY_DIR}/bnConfigVersion.cmake
  DESTINATION ${BN_CMAKE_DIR} COMPONENT development)

# pkg-config: paths relative to ${pcfiledir} keep the file relocatable.
file(RELATIVE_PATH BN_PC_TO_PREFIX
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" BN_PC_TO_PREFIX "${BN_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/bn.pc.in ${PROJECT_BINARY_DIR}/bn.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/bn.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
