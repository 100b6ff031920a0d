#!/usr/bin/env python3
"""Python install test, run by ctest as `python_install` (tests/python-install.cmake).

1. cmake --install the build tree into a fresh temporary prefix;
   it must print where the package went and that python3 needs PYTHONPATH
   for it, and install the py.typed marker;
2. in a fresh interpreter, with PYTHONPATH = <prefix>/<site dir> only, no
   BN_LIBRARY and a working directory outside the source tree, `import bn`
   must load the package from the prefix and the library from <prefix>/<libdir>
   (found through the generated bn/_config.py), and a BatchNorm forward must work;
3. move the prefix elsewhere and check 2 again (the install is relocatable).

Usage: install_check.py --build BUILD --work WORK --sitedir REL --libdir REL [--cmake CMAKE]
"""
import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, numpy as np, bn
x = np.arange(12, dtype=np.float32).reshape(4, 3)
with bn.BatchNorm(3) as layer:
    y = layer.forward(x, training=True)
print(json.dumps({"package": bn.__file__, "library": bn.LIBRARY_PATH,
                  "version": bn.__version__, "mean": float(abs(y.mean(axis=0)).max())}))
"""


def fail(message):
    print(f"python install test FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def probe(prefix, sitedir, libdir, work):
    env = {k: v for k, v in os.environ.items()
           if k not in ("BN_LIBRARY", "PYTHONPATH", "PYTHONHOME", "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = str(prefix / sitedir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(["/usr/bin/python3", "-c", PROBE], cwd=work, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode:
        fail(f"import bn from {prefix / sitedir}:\n{result.stdout}{result.stderr}")
    import json
    info = json.loads(result.stdout.strip().splitlines()[-1])
    package, library = Path(info["package"]).resolve(), Path(info["library"]).resolve()
    if package.parent != (prefix / sitedir / "bn").resolve():
        fail(f"bn was imported from {package}, not from {prefix / sitedir}")
    if library.parent != (prefix / libdir).resolve():
        fail(f"bn loaded {info['library']}, not the library installed in {prefix / libdir}")
    if info["mean"] > 1e-5:
        fail(f"wrong BatchNorm result through the installed binding: {info}")
    print(f"ok: bn {info['version']} from {package.parent}, library {library}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--sitedir", required=True)
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--cmake", default="cmake")
    args = ap.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    prefix = args.work / "prefix"
    log = args.work / "install.log"
    with open(log, "w") as out:
        status = subprocess.run([args.cmake, "--install", str(args.build), "--prefix",
                                 str(prefix)], stdout=out, stderr=subprocess.STDOUT).returncode
    if status:
        fail(f"cmake --install:\n{log.read_text()}")
    printed = f"Python package bn installed in {prefix / args.sitedir / 'bn'}"
    if printed not in log.read_text():
        fail(f"cmake --install did not print {printed!r}:\n{log.read_text()}")
    if "does not search" not in log.read_text() or "export PYTHONPATH=" not in log.read_text():
        fail(f"cmake --install did not say that python3 needs PYTHONPATH for {prefix}")
    if not (prefix / args.sitedir / "bn" / "py.typed").is_file():
        fail("bn/py.typed (the type-hint marker) was not installed")
    config = prefix / args.sitedir / "bn" / "_config.py"
    if not config.is_file():
        fail(f"{config} was not installed")
    if list((prefix / args.sitedir / "bn").glob("*.so*")):
        fail("a library was copied into the package folder; it must be found via _config.py")

    probe(prefix, args.sitedir, args.libdir, args.work)
    moved = args.work / "moved" / "elsewhere"
    moved.parent.mkdir()
    prefix.rename(moved)
    probe(moved, args.sitedir, args.libdir, args.work)
    print("python install test passed")


if __name__ == "__main__":
    main()
