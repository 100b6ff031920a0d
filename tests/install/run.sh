#!/usr/bin/env bash
# Install-consumer test driver (registered by tests/install.cmake; ctest passes
# its settings in the environment):
#   1. cmake --install the build tree into a fresh temporary prefix;
#   2. build consumer.c with `pkg-config --cflags --libs bn` and run it;
#   3. build the CMake project here with find_package(bn CONFIG) and run it;
#   4. move the prefix somewhere else and do 2 and 3 again (relocatability);
#   5. with BN_BUILD_STATIC, also link the static library both ways.
# Each consumer must load libbn from the prefix under test (checked with ldd),
# never from a system-wide install.
set -euo pipefail

: "${BN_BUILD_DIR:?} ${BN_CONSUMER_DIR:?} ${BN_WORK_DIR:?} ${BN_LIBDIR:?} ${BN_VERSION:?}"
: "${BN_SOVERSION:?} ${CC:?} ${CMAKE:=cmake}"
CFLAGS=${CFLAGS:-}
LDFLAGS=${LDFLAGS:-}
BN_STATIC=${BN_STATIC:-0}

step() { printf '\n--- install test: %s\n' "$*"; }
fail() {
  printf 'install test FAILED: %s\n' "$*" >&2
  exit 1
}

rm -rf "$BN_WORK_DIR"
mkdir -p "$BN_WORK_DIR"
cd "$BN_WORK_DIR"

prefix=$BN_WORK_DIR/prefix
step "cmake --install $BN_BUILD_DIR --prefix $prefix"
"$CMAKE" --install "$BN_BUILD_DIR" --prefix "$prefix" >install.log ||
  { cat install.log; fail "cmake --install"; }

for f in "include/bn/bn.h" "include/bn/version.h" "include/bn/export.h" \
  "$BN_LIBDIR/libbn.so" "$BN_LIBDIR/libbn.so.$BN_SOVERSION" "$BN_LIBDIR/libbn.so.$BN_VERSION" \
  "$BN_LIBDIR/pkgconfig/bn.pc" "$BN_LIBDIR/cmake/bn/bnConfig.cmake" \
  "$BN_LIBDIR/cmake/bn/bnConfigVersion.cmake" "$BN_LIBDIR/cmake/bn/bnTargets.cmake"; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done
[ "$BN_STATIC" = 1 ] && { [ -e "$prefix/$BN_LIBDIR/libbn.a" ] || fail "libbn.a was not installed"; }
soname=$(objdump -p "$prefix/$BN_LIBDIR/libbn.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libbn.so.$BN_SOVERSION" ] || fail "SONAME is '$soname', expected libbn.so.$BN_SOVERSION"

# $1 must load libbn.so from the directory $2 ($3 = shared), or not at all
# ($3 = static).
check_loads_from() {
  local exe=$1 want=$2 kind=$3 path
  path=$(ldd "$exe" | awk '$1 ~ /^libbn\.so/ { print $3 }')
  if [ "$kind" = static ]; then
    [ -z "$path" ] || fail "$exe loads $path although it was linked statically"
  else
    [ -n "$path" ] && [ -e "$path" ] || fail "$exe does not find libbn.so: $(ldd "$exe")"
    [ "$(cd "$(dirname "$path")" && pwd -P)" = "$(cd "$want" && pwd -P)" ] ||
      fail "$exe loads $path instead of the one in $want"
  fi
}

# Build and run consumer.c through pkg-config against the prefix $1.
# $2 = shared | static.
consumer_pkgconfig() {
  local root=$1 kind=$2 exe="$BN_WORK_DIR/consumer-pc-$2-$3" libdir libs
  export PKG_CONFIG_PATH="$root/$BN_LIBDIR/pkgconfig"
  step "pkg-config ($kind) against $root"
  [ "$(pkg-config --modversion bn)" = "$BN_VERSION" ] || fail "pkg-config --modversion bn"
  libdir=$(pkg-config --variable=libdir bn)
  [ "$(cd "$libdir" && pwd -P)" = "$(cd "$root/$BN_LIBDIR" && pwd -P)" ] ||
    fail "bn.pc's libdir $libdir is not inside $root"
  if [ "$kind" = static ]; then
    # -l:libbn.a picks the archive although libbn.so sits beside it.
    libs=$(pkg-config --static --libs bn | sed 's/-lbn\b/-l:libbn.a/')
  else
    libs="$(pkg-config --libs bn) -Wl,-rpath,$libdir"
  fi
  # shellcheck disable=SC2086 # flags are word lists
  "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror $CFLAGS $(pkg-config --cflags bn) \
    "$BN_CONSUMER_DIR/consumer.c" -o "$exe" $LDFLAGS $libs -lm ||
    fail "compiling the consumer with pkg-config ($kind)"
  check_loads_from "$exe" "$libdir" "$kind"
  "$exe" || fail "the pkg-config consumer ($kind) failed"
}

# Configure, build and run the CMake consumer project against the prefix $1.
consumer_cmake() {
  local root=$1 kind=$2 dir="$BN_WORK_DIR/consumer-cmake-$2-$3" static=OFF
  [ "$kind" = static ] && static=ON
  step "find_package(bn CONFIG) ($kind) against $root"
  "$CMAKE" -S "$BN_CONSUMER_DIR" -B "$dir" -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
    -DCMAKE_BUILD_TYPE=Release -DBN_CONSUMER_STATIC=$static >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "configuring the CMake consumer ($kind)"; }
  local found
  found=$(sed -n 's/^bn_DIR:PATH=//p' "$dir/CMakeCache.txt")
  [ "$(cd "$found" && pwd -P)" = "$(cd "$root/$BN_LIBDIR/cmake/bn" && pwd -P)" ] ||
    fail "find_package(bn) found $found, not the package in $root"
  "$CMAKE" --build "$dir" >>"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "building the CMake consumer ($kind)"; }
  check_loads_from "$dir/consumer" "$root/$BN_LIBDIR" "$kind"
  "$dir/consumer" || fail "the CMake consumer ($kind) failed"
}

kinds=(shared)
[ "$BN_STATIC" = 1 ] && kinds+=(static)

for kind in "${kinds[@]}"; do
  consumer_pkgconfig "$prefix" "$kind" installed
  consumer_cmake "$prefix" "$kind" installed
done

# Relocatability: the .pc file and the CMake package locate the prefix from
# their own path. Move (not copy) the tree so the old path no longer exists.
moved=$BN_WORK_DIR/elsewhere/moved-prefix
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
for kind in "${kinds[@]}"; do
  consumer_pkgconfig "$moved" "$kind" moved
  consumer_cmake "$moved" "$kind" moved
done

printf '\ninstall test: all consumers passed (%s)\n' "${kinds[*]}"
