# What a user installs besides the library: the bn(1) man page (written from
# the program's own --help texts at build time), bash completion, the
# rendered API reference when the `docs` target has been built; an
# `uninstall` target; and CPack's .deb.
#
# The .deb mirrors `cmake --install` into CMAKE_INSTALL_PREFIX, so configure
# the build that packages with -DCMAKE_INSTALL_PREFIX=/usr (Debian's library
# and Python directories are then chosen for /usr):
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DBN_BUILD_TESTS=OFF
#   cmake --build build-deb -j2 && cmake --build build-deb --target docs   # docs optional
#   (cd build-deb && cpack -G DEB)          # build-deb/libbn_<version>_<arch>.deb

set(BN_MAN_PAGE ${PROJECT_BINARY_DIR}/docs/man/bn.1)
add_custom_command(OUTPUT ${BN_MAN_PAGE}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/docs/man
  COMMAND bash ${PROJECT_SOURCE_DIR}/docs/man/make_man.sh $<TARGET_FILE:bn_cli> ${BN_MAN_PAGE}
  DEPENDS bn_cli ${PROJECT_SOURCE_DIR}/docs/man/make_man.sh ${PROJECT_SOURCE_DIR}/docs/man/bn.1.tail
  COMMENT "bn(1) from bn --help"
  VERBATIM)
add_custom_target(man ALL DEPENDS ${BN_MAN_PAGE})
install(FILES ${BN_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/src/cli/bn-completion.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME bn COMPONENT runtime)
# Installed only when `cmake --build <dir> --target docs` has rendered it.
install(DIRECTORY ${PROJECT_BINARY_DIR}/docs/html/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/html
  OPTIONAL COMPONENT doc)

# `cmake --build <dir> --target uninstall` removes what the last
# `cmake --install` of this build tree installed (its install_manifest.txt).
add_custom_target(uninstall
  COMMAND ${CMAKE_COMMAND} -DBN_MANIFEST=${PROJECT_BINARY_DIR}/install_manifest.txt
          -P ${PROJECT_SOURCE_DIR}/cmake/BnUninstall.cmake
  COMMENT "Removing the files listed in install_manifest.txt"
  VERBATIM)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libbn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "libbn: batch normalization kernels and layers, dense layers, small MLPs with\n"
  "model files, the bn program (train, eval, predict, info, fold, plot) and a\n"
  "Python binding (ctypes + numpy).")
set(CPACK_PACKAGE_CONTACT "libbn developers")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# Depends from the ELF files' needs (libc6, OpenBLAS, zlib, cairo), found by
# dpkg-shlibdeps (package dpkg-dev); the Python binding needs numpy.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3, python3-numpy")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "dataset-fashion-mnist")
set(CPACK_STRIP_FILES ON)
include(CPack)
