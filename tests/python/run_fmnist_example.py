"""Run one Fashion-MNIST example of docs/examples as a ctest test, or skip it.

    /usr/bin/python3 run_fmnist_example.py DATA_DIR SCRIPT [ARGS...]

The data folder is DATA_DIR (tests/python-examples.cmake passes Debian's
/usr/share/datasets/fashion-mnist), or $BN_FASHION_MNIST_DIR when that is set.
If one of the four *-ubyte.gz files is missing, this prints which one and how
to install it and exits 77, the tests' SKIP_RETURN_CODE: ctest then lists the
test as skipped instead of the test silently not existing. Otherwise it runs
``SCRIPT --data DIR ARGS...`` with this interpreter and exits with its status.

Not a pytest module (its name does not start with test_).
"""

import os
import sys

SKIP = 77  # SKIP_RETURN_CODE of the example tests
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def main(argv: list) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} DATA_DIR SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    folder = os.environ.get("BN_FASHION_MNIST_DIR") or argv[1]
    script, args = argv[2], argv[3:]
    missing = [name for name in FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        print(f"SKIPPED {os.path.basename(script)}: Fashion-MNIST is not installed here: "
              f"{os.path.join(folder, missing[0])} is missing"
              f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}.\n"
              "  Install the Debian package: apt-get install dataset-fashion-mnist\n"
              "  (or set BN_FASHION_MNIST_DIR to a folder holding the four *-ubyte.gz files)",
              flush=True)
        return SKIP
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, script, "--data", folder, *args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
