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
