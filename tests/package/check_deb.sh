#!/usr/bin/env bash
# The .deb as a user gets it: build it with CPack from a build tree
# configured with -DCMAKE_INSTALL_PREFIX=/usr, unpack it with dpkg-deb -x into
# a temporary root (no dpkg database is touched), then from that root:
# `bn --version`, the man page and the completion, a C consumer built with
# the packaged pkg-config file, and `import bn` in Python. Then the
# `uninstall` target on a `cmake --install` of the same tree.
#   check_deb.sh BUILD_DIR     (run by .ci/run)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$build/package-check
fail() { echo "package test FAILED: $*" >&2; exit 1; }
step() { printf -- '--- package test: %s\n' "$*"; }
rm -rf "$work" && mkdir -p "$work/root"

step "cpack -G DEB"
(cd "$build" && rm -f ./*.deb && cpack -G DEB > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail cpack; }
deb=$(ls "$build"/*.deb)
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/  \1:/p'
dpkg-deb -f "$deb" Depends | grep -q libopenblas || fail "Depends does not name OpenBLAS"
dpkg-deb -x "$deb" "$work/root"
root=$work/root/usr
libdir=$(dirname "$(find "$root/lib" -name 'libbn.so.1' | head -1)")
[ -n "$libdir" ] || fail "no libbn.so.1 in the package"

step "bn --version from the unpacked root (RUNPATH finds the packaged libbn)"
env -u LD_LIBRARY_PATH "$root/bin/bn" --version | grep -E '^bn [0-9.]+ \(libbn [0-9.]+' ||
  fail "bn --version"
lib=$(env -u LD_LIBRARY_PATH ldd "$root/bin/bn" | awk '$1 ~ /^libbn\.so/ { print $3 }')
[ "$(readlink -f "$lib")" = "$(readlink -f "$libdir/libbn.so.1")" ] || fail "bn loads $lib"

step "man page and bash completion"
grep -q 'validation\\-split' "$root/share/man/man1/bn.1" || fail "man page"
bash -c "source '$root/share/bash-completion/completions/bn'; complete -p bn" > /dev/null ||
  fail "completion"
if [ -d "$build/docs/html" ]; then
  [ -f "$root/share/doc/bn/html/index.html" ] || fail "API reference not in the package"
fi

step "a C consumer through the packaged bn.pc"
PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs bn > "$work/flags"
cc -std=c11 -Wall -Wextra -Werror $(cat "$work/flags") "$src/tests/install/consumer.c" \
  -o "$work/consumer" $(cat "$work/flags") -Wl,-rpath,"$libdir" -lm || fail "consumer build"
"$work/consumer" || fail "consumer run"

step "import bn from the packaged Python directory"
(cd "$work" && env -u BN_LIBRARY PYTHONPATH="$root/lib/python3/dist-packages" \
  PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c '
import sys, numpy as np, bn
assert bn.__file__.startswith(sys.argv[1]), bn.__file__
assert bn.LIBRARY_PATH.startswith(sys.argv[1]), bn.LIBRARY_PATH
x = np.arange(12, dtype=np.float32).reshape(4, 3)
with bn.BatchNorm(3) as layer:
    y = layer.forward(x, training=True)
assert abs(y.mean(axis=0)).max() < 1e-5
print("  import bn:", bn.__version__, "from", bn.LIBRARY_PATH)' "$work/root") || fail "python import"

step "cmake --install, then the uninstall target removes every file"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
[ -n "$(find "$work/prefix" -type f)" ] || fail "nothing installed"
cmake --build "$build" --target uninstall > "$work/uninstall.log" || fail "uninstall target"
left=$(find "$work/prefix" -type f -o -type l)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "package test: all steps passed"
