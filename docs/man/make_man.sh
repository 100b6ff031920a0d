#!/usr/bin/env bash
# Write the bn(1) man page from the program's own --help texts, so the page
# and `bn --help` / `bn COMMAND --help` cannot disagree. The sections that
# --help does not carry (environment, files, determinism, see also) are in
# docs/man/bn.1.tail beside this script.
#   make_man.sh BN OUT
set -euo pipefail
bn=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)

# roff-escape help text: backslashes, and lines starting with . or '.
escape() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
verbatim() { printf '.nf\n'; escape; printf '.fi\n'; }

version=$("$bn" --version | awk '{ print $2 }')
commands=$("$bn" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
{
  printf '.TH BN 1 "" "bn %s" "User Commands"\n' "$version"
  printf '.SH NAME\nbn \\- train, evaluate, inspect, fold and plot BatchNorm MLPs (libbn)\n'
  printf '.SH SYNOPSIS\n'
  for c in $commands; do
    "$bn" "$c" --help | head -1 | sed 's/^usage: //' | escape | sed 's/^/.br\n/'
  done
  printf '.br\nbn \\-\\-help | bn \\-\\-version\n'
  printf '.SH DESCRIPTION\n'
  "$bn" --help | verbatim
  for c in $commands; do
    printf '.SH "BN %s"\n' "$(printf '%s' "$c" | tr '[:lower:]' '[:upper:]')"
    "$bn" "$c" --help | verbatim
  done
  cat "$here/bn.1.tail"
} > "$out.tmp"
mv "$out.tmp" "$out"
