#!/usr/bin/env python3
"""ABI check of libbn.so, run by ctest as `symbols` (see tests/symbols.cmake).

(a) The shared library's dynamic symbol table exports only bn_* functions
    (besides the linker's own _init/_fini/_edata/_end/__bss_start and the
    sanitizer runtime's hooks in instrumented builds): no internal bni_*
    helper, no third-party symbol, no exported data.
(b) Every function declared with BN_API in the public headers (all *.h under
    the include directory, parsed generically, so new headers are covered
    without editing this script) is exported, and every exported bn_*
    function is declared in a public header.

Usage: check_symbols.py --nm NM --library libbn.so --include include/bn
Exit status 0 when both hold, 1 otherwise (with the offending names).
"""
import argparse
import pathlib
import re
import subprocess
import sys

# Defined by the linker or the C runtime in every shared object.
LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start", "_etext", "__data_start"}
# Hooks an AddressSanitizer / UBSan build may export; never in a release build.
SANITIZER_PREFIXES = ("__asan", "__ubsan", "__sanitizer", "__lsan", "__odr_asan")
# nm types of a function: text (T), weak (W), indirect (i).
FUNCTION_TYPES = {"T", "W", "i"}


def exported_symbols(nm, library):
    """{name: nm type} of the defined dynamic symbols of the library."""
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        kind, name = fields[-2], fields[-1]
        symbols[name.split("@")[0]] = kind
    return symbols


def declared_functions(include_dir):
    """{name: header} of every function declared with BN_API."""
    declared = {}
    headers = sorted(pathlib.Path(include_dir).rglob("*.h"))
    for header in headers:
        text = header.read_text()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)         # block comments
        text = re.sub(r"//[^\n]*", " ", text)                      # line comments
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)  # directives
        for match in re.finditer(r"\bBN_API\b", text):
            decl = re.split(r"[;{]", text[match.end():], maxsplit=1)[0]
            name = re.search(r"([A-Za-z_]\w*)\s*\(", decl)
            if not name:
                raise SystemExit(f"{header}: cannot parse the BN_API declaration: {decl.strip()!r}")
            declared[name.group(1)] = header.name
    return declared, headers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nm", required=True)
    parser.add_argument("--library", required=True)
    parser.add_argument("--include", required=True)
    args = parser.parse_args()

    exported = exported_symbols(args.nm, args.library)
    declared, headers = declared_functions(args.include)
    problems = []
    if not headers or not declared:
        problems.append(f"no BN_API declaration found under {args.include}")
    for name, kind in sorted(exported.items()):
        if name in LINKER_SYMBOLS or name.startswith(SANITIZER_PREFIXES):
            continue
        if not name.startswith("bn_"):
            problems.append(f"exported but not part of the API (not bn_*): {name} ({kind})")
        elif kind not in FUNCTION_TYPES:
            problems.append(f"exported bn_* symbol is not a function: {name} ({kind})")
        elif name not in declared:
            problems.append(f"exported but declared in no public header: {name}")
    for name, header in sorted(declared.items()):
        if name not in exported:
            problems.append(f"declared with BN_API in {header} but not exported: {name}")
        elif exported[name] not in FUNCTION_TYPES:
            problems.append(f"declared in {header} but exported as type {exported[name]}: {name}")

    for p in problems:
        print("symbols:", p, file=sys.stderr)
    print(f"symbols: {len(declared)} BN_API functions in {len(headers)} headers, "
          f"{sum(n.startswith('bn_') for n in exported)} bn_* exports, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
