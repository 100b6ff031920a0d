"""Finding the library and refusing one with another ABI (each case in a fresh
interpreter, since the library is loaded at import)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bn

PACKAGE = Path(bn.__file__).resolve().parent


def run_import(env_changes, pythonpath=PACKAGE.parent):
    env = {k: v for k, v in os.environ.items() if k != "BN_LIBRARY"}
    env.update(env_changes)
    env["PYTHONPATH"] = str(pythonpath)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-c", "import bn; print(bn.LIBRARY_PATH)"],
                          env=env, capture_output=True, text=True, timeout=60)


def fake_library(tmp_path, source):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build a fake library")
    src = tmp_path / "fake.c"
    src.write_text(source)
    lib = tmp_path / "libbn.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return lib


def test_version_functions():
    assert bn.abi_version() == bn.ABI_MAJOR == 1
    assert bn.version_number() // 10000 == bn.ABI_MAJOR
    assert bn.version_string() == bn.__version__
    major, minor, patch = map(int, bn.__version__.split("."))
    assert bn.version_number() == major * 10000 + minor * 100 + patch


def test_bn_library_that_cannot_be_loaded_is_an_import_error(tmp_path):
    result = run_import({"BN_LIBRARY": str(tmp_path / "missing.so")})
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "BN_LIBRARY" in result.stderr


def test_abi_mismatch_is_a_clear_import_error(tmp_path):
    # the ABI major comes from bn_abi_version(), not from the version number
    lib = fake_library(tmp_path, 'unsigned bn_abi_version(void) { return 2; }\n'
                                  'unsigned bn_version_number(void) { return 10103; }\n'
                                  'const char *bn_version_string(void) { return "2.1.3"; }\n')
    result = run_import({"BN_LIBRARY": str(lib)})
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "libbn 2.1.3 (ABI major 2)" in result.stderr and "needs ABI major 1" in result.stderr


def test_library_without_abi_version_is_an_import_error(tmp_path):
    lib = fake_library(tmp_path, 'unsigned bn_version_number(void) { return 10000; }\n'
                                  'const char *bn_version_string(void) { return "1.0.0"; }\n')
    result = run_import({"BN_LIBRARY": str(lib)})
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "does not export bn_abi_version" in result.stderr


def test_missing_symbol_is_an_import_error(tmp_path):
    lib = fake_library(tmp_path, 'unsigned bn_abi_version(void) { return 1; }\n'
                                  'unsigned bn_version_number(void) { return 10000; }\n'
                                  'const char *bn_version_string(void) { return "1.0.0"; }\n')
    result = run_import({"BN_LIBRARY": str(lib)})
    assert result.returncode != 0
    assert "does not export bn_" in result.stderr


def test_library_next_to_the_package_is_found_without_bn_library(tmp_path):
    copy = tmp_path / "site" / "bn"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    (copy / "libbn.so.1").symlink_to(Path(bn.LIBRARY_PATH).resolve())
    result = run_import({}, pythonpath=copy.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(copy / "libbn.so.1")
