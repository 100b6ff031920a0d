#!/usr/bin/env python3
"""ABI compatibility check of libbn.so against the committed baseline
(abi/libbn.abi), run by ctest as `abi_compat` in builds with debug info
(see tests/abi.cmake and docs/reliability.md).

The library's ABI is read with libabigail's abidw (DWARF, restricted to the
types reachable from the public headers) and compared with abidiff. abidiff's
exit status is a bit set: 1 error, 2 usage error, 4 the ABI changed, 8 the
change is known to be incompatible (a removed symbol). Bit 4 alone also
covers changed signatures, struct layouts and enum values, which abidiff
does not call incompatible; so with bit 4 the report's change summaries are
read, and only added functions and variables (and the changes abidiff itself
filters as harmless, such as a new enumerator) pass. Anything else fails,
unless the SONAME major was bumped (BN_ABI_VERSION) and the baseline
renewed in the same change:

    check_abi.py --library build/src/libbn.so --headers include/bn \
                 --baseline abi/libbn.abi --renew

Guard against renewing without bumping: every earlier committed version of
the baseline (git history) with the library's current SONAME must also be
compatible with the library (only when the source tree is a git checkout).

Exit status 0 when compatible, 1 otherwise.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

ABIDIFF_ERROR, ABIDIFF_USAGE_ERROR, ABIDIFF_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8


def abidw(library, headers, out):
    """The library's ABI as abixml, with source paths relative to the source
    tree (the baseline must not depend on where the tree was checked out)."""
    subprocess.run(["abidw", "--headers-dir", headers, "--drop-private-types",
                    "--no-corpus-path", "--no-comp-dir-path", "--no-show-locs",
                    "--out-file", str(out), library], check=True)
    root = str(pathlib.Path(headers).resolve().parents[1]) + "/"
    out.write_text(out.read_text().replace(root, ""))


def soname(abi_xml):
    match = re.search(r"soname='([^']*)'", pathlib.Path(abi_xml).read_text())
    return match.group(1) if match else None


SUMMARY = re.compile(r"^(.*?) changes summary: (.*)$", re.M)
COUNT = re.compile(r"(\d+) (Removed|Changed|Added)(?: \(\d+ filtered out\))?")


def breaking_counts(report):
    """The non-zero Removed / Changed counts of abidiff's summaries ('' if none)."""
    found = []
    for subject, counts in SUMMARY.findall(report):
        for number, kind in COUNT.findall(counts):
            if kind != "Added" and int(number) > 0:
                found.append(f"{subject}: {number} {kind}")
    return "; ".join(found)


def compare(old, new, what):
    """abidiff old new; returns a list of problems (empty when compatible)."""
    run = subprocess.run(["abidiff", "--no-show-locs", str(old), str(new)],
                         capture_output=True, text=True)
    bits = run.returncode
    if bits & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        return [f"abidiff could not compare {what} (exit {bits}):\n{run.stderr}{run.stdout}"]
    if bits & ABIDIFF_INCOMPATIBLE:
        return [f"INCOMPATIBLE ABI change against {what}:\n{run.stdout}"]
    if bits & ABIDIFF_CHANGE:
        breaking = breaking_counts(run.stdout)
        if breaking:
            return [f"INCOMPATIBLE ABI change against {what} ({breaking}):\n{run.stdout}"]
        print(f"abi: compatible changes against {what} (additions only):\n{run.stdout}")
    return []


def earlier_baselines(baseline, workdir):
    """(commit, path of a temporary copy) of every committed version of the baseline."""
    root = subprocess.run(["git", "-C", str(baseline.parent), "rev-parse", "--show-toplevel"],
                          capture_output=True, text=True)
    if root.returncode != 0:
        return []
    top = pathlib.Path(root.stdout.strip())
    rel = baseline.resolve().relative_to(top.resolve()).as_posix()
    log = subprocess.run(["git", "-C", str(top), "log", "--format=%H", "--", rel],
                         capture_output=True, text=True, check=True).stdout.split()
    versions = []
    for commit in log:
        blob = subprocess.run(["git", "-C", str(top), "show", f"{commit}:{rel}"],
                              capture_output=True)
        if blob.returncode != 0:
            continue  # the file was deleted in that commit
        path = pathlib.Path(workdir) / f"{commit}.abi"
        path.write_bytes(blob.stdout)
        versions.append((commit, path))
    return versions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True, help="libbn.so built with -g")
    parser.add_argument("--headers", required=True, help="include/bn")
    parser.add_argument("--baseline", required=True, help="abi/libbn.abi")
    parser.add_argument("--renew", action="store_true",
                        help="write the library's ABI as the new baseline")
    args = parser.parse_args()
    baseline = pathlib.Path(args.baseline)

    with tempfile.TemporaryDirectory() as work:
        current = pathlib.Path(work) / "current.abi"
        abidw(args.library, args.headers, current)
        if args.renew:
            baseline.write_text(current.read_text())
            print(f"abi: wrote {baseline} ({soname(current)})")
            return 0
        if not baseline.exists():
            print(f"abi: no baseline {baseline}; create it with --renew", file=sys.stderr)
            return 1
        problems = []
        new_soname, old_soname = soname(current), soname(baseline)
        if new_soname != old_soname:
            problems.append(f"the library's SONAME is {new_soname} but the baseline's is "
                            f"{old_soname}: renew the baseline (--renew) with the bump")
        else:
            problems += compare(baseline, current, f"the baseline {baseline}")
        for commit, old in earlier_baselines(baseline, work):
            if soname(old) == new_soname:
                problems += compare(old, current, f"the baseline of commit {commit[:12]}")

    for p in problems:
        print("abi:", p, file=sys.stderr)
    if problems:
        print("abi: an incompatible change needs BN_ABI_VERSION bumped (new SONAME) and the "
              "baseline renewed in the same change; see docs/reliability.md", file=sys.stderr)
        return 1
    print(f"abi: {new_soname} is compatible with the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
