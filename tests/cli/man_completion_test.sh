#!/usr/bin/env bash
# bn(1) and the bash completion against the program: every command and
# option of every --help is in the man page (which is written from those
# texts), offered by the completion and named in docs/cli.md, the page
# renders without warnings, and the choices the completion lists are exactly
# those bn accepts.
#   man_completion_test.sh BN MAN_PAGE COMPLETION CLI_MD
set -u
bn=$1 page=$2 completion=$3 doc=$4
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAIL: $1"; fi; }

commands=$("$bn" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
check "bn --help lists the commands" '[ "$(echo $commands)" = "train eval predict info fold plot" ]'
source "$completion"
complete_line() {  # complete_line WORD... : the completion of the last word
  COMP_WORDS=("$bn" "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  _bn
  echo "${COMPREPLY[*]}"
}
for c in $commands; do
  check "man page has a section for bn $c" "grep -q '^.SH \"BN ${c^^}\"' '$page'"
  check "completion offers $c" "[[ ' $(complete_line "${c:0:2}") ' == *' $c '* ]]"
  for o in $("$bn" "$c" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    check "bn $c $o: in the man page" "grep -qF -- '${o//-/\\-}' '$page'"
    check "bn $c $o: completed" "[[ ' $(complete_line "$c" "${o:0:4}") ' == *' $o '* ]]"
    check "bn $c $o: in docs/cli.md" "grep -qE -- '(^|[^a-z-])$o([^a-z-]|\$)' '$doc'"
  done
done
# Choices: the completion's list is the one bn prints for an unknown value.
for o in activation bn init head-init head optimizer schedule; do
  accepted=$("$bn" train "--$o" '?' 2>&1 | sed -n 's/.*(one of: \(.*\))$/\1/p' | tr ' ' '\n' | sort | xargs)
  offered=$(complete_line train "--$o" '' | tr ' ' '\n' | sort | xargs)
  check "--$o: completion offers '$offered', bn accepts '$accepted'" \
    "[ -n '$accepted' ] && [ '$offered' = '$accepted' ]"
done
if command -v groff > /dev/null; then
  check "man page renders without warnings" \
    "[ -z \"\$(groff -man -Tutf8 -ww -z '$page' 2>&1)\" ]"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
