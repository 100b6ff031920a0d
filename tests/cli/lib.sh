# Helpers of the `bn` program's test scripts (sourced).

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; }

# expect CODE PATTERN DESCRIPTION -- command...: exit code and a regex on stdout+stderr.
expect() {
  local code=$1 pattern=$2 what=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ]; then
    bad "$what: exit $rc, expected $code"
    printf '%s\n' "$out" | head -20 | sed 's/^/    /'
  elif [ -n "$pattern" ] && ! printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
    bad "$what: output does not match /$pattern/"
    printf '%s\n' "$out" | head -20 | sed 's/^/    /'
  else
    ok "$what"
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

