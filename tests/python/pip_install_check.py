#!/usr/bin/env python3
"""pip install test, run by ctest as `python_pip_install` (tests/python-install.cmake).

Offline, as docs/python.md says:
    /usr/bin/python3 -m venv --system-site-packages VENV
    VENV/bin/pip install --no-index --no-build-isolation bindings/python
from a copy of bindings/python (setuptools builds in place; the source tree
stays clean). Then VENV/bin/python, with BN_LIBRARY pointing at the library
just built, must import bn from the venv (with its py.typed marker), report
the library's version, and normalize a batch.

Exits 77 (skipped) naming the Debian packages when venv, setuptools or wheel
is missing; .ci/deps installs them.

Usage: pip_install_check.py --source bindings/python --work DIR --library LIBBN
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SKIP = 77
PROBE = r"""
import json, numpy as np, bn
x = np.arange(12, dtype=np.float32).reshape(4, 3)
with bn.BatchNorm(3) as layer:
    y = layer.forward(x, training=True)
print(json.dumps({"package": bn.__file__, "version": bn.__version__,
                  "mean": float(abs(y.mean(axis=0)).max())}))
"""


def fail(message):
    print(f"pip install test FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def run(command, **kw):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kw)
    if result.returncode:
        fail(f"{' '.join(map(str, command))}:\n{result.stdout}{result.stderr}")
    return result.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--library", required=True)
    args = ap.parse_args()

    probe = "import ensurepip, setuptools, wheel"
    if subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode:
        print("SKIPPED: needs python3-venv, python3-setuptools and python3-wheel "
              "(apt-get install python3-venv python3-setuptools python3-wheel)")
        return SKIP
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    source = args.work / "python"
    shutil.copytree(args.source, source, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info", "_config.py"))
    venv = args.work / "venv"
    run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_INDEX_URL")}
    run([str(venv / "bin" / "pip"), "install", "--no-index", "--no-build-isolation",
         str(source)], env=env, cwd=args.work)
    env["BN_LIBRARY"] = args.library
    info = json.loads(run([str(venv / "bin" / "python"), "-c", PROBE], env=env,
                          cwd=args.work).strip().splitlines()[-1])
    package = Path(info["package"]).resolve().parent
    if venv.resolve() not in package.parents:
        fail(f"bn was imported from {package}, not from the venv {venv}")
    if not (package / "py.typed").is_file():
        fail(f"{package}/py.typed (the type-hint marker) was not installed")
    if (package / "_config.py").exists():
        fail("_config.py belongs to cmake --install only")
    if info["mean"] > 1e-5:
        fail(f"wrong BatchNorm result through the pip-installed binding: {info}")
    print(f"ok: pip installed bn {info['version']} into {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
