# Remove every file listed in BN_MANIFEST (written by `cmake --install`), then
# the directories that this leaves empty under the install's bn-specific
# folders. Run through the `uninstall` target (cmake/BnPackage.cmake).
if(NOT EXISTS "${BN_MANIFEST}")
  message(FATAL_ERROR "${BN_MANIFEST} is missing: nothing was installed from this build tree")
endif()
file(STRINGS "${BN_MANIFEST}" files)
set(dirs "")
foreach(file IN LISTS files)
  if(IS_SYMLINK "${file}" OR EXISTS "${file}")
    message(STATUS "Removing ${file}")
    file(REMOVE "${file}")
    get_filename_component(dir "${file}" DIRECTORY)
    list(APPEND dirs "${dir}")
  else()
    message(STATUS "Already gone: ${file}")
  endif()
endforeach()
# Folders only libbn uses (include/bn, lib/cmake/bn, the Python package bn,
# share/doc/bn and its html/, html/search/) go when left empty; shared ones
# such as lib/ or bin/ stay.
list(REMOVE_DUPLICATES dirs)
foreach(dir IN LISTS dirs)
  while(dir MATCHES "/bn(/html(/search)?)?$" AND IS_DIRECTORY "${dir}")
    file(GLOB left "${dir}/*")
    if(left)
      break()
    endif()
    file(REMOVE_RECURSE "${dir}") # empty: nothing else can go with it
    message(STATUS "Removing empty ${dir}")
    get_filename_component(dir "${dir}" DIRECTORY)
  endwhile()
endforeach()
