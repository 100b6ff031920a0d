# Warnings for our own targets, and the sanitizer switch. No -march here: the
# installed library must run on any x86-64; wider SIMD is chosen at run time.
add_library(bn_warnings INTERFACE)
target_compile_options(bn_warnings INTERFACE -Wall -Wextra -Wpedantic
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion -Wno-sign-conversion)
if(BN_WERROR)
  target_compile_options(bn_warnings INTERFACE -Werror)
endif()

if(BN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# ThreadSanitizer build (the CI's thread step runs `ctest -L threads` in it).
# Not combinable with BN_SANITIZE (ASan and TSan exclude each other).
option(BN_TSAN "Build with ThreadSanitizer" OFF)
if(BN_TSAN)
  if(BN_SANITIZE)
    message(FATAL_ERROR "BN_TSAN and BN_SANITIZE cannot be combined")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=thread)
endif()
