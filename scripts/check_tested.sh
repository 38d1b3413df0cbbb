#!/usr/bin/env bash
# CI: nothing public goes untested by accident. A function no test calls can change, or break,
# unseen; two ops once went that way. It reports
#   op       a function declared in autograd/ops/*.hpp that no test calls: by its name, or
#            through an operator the header defines as a call to it (a + b calls add)
#   module   a class in nn/*.hpp with a forward() that derives from Module or CallableModule<>
#            and has no test case "gradcheck nn.<Name>"
#
#   bash scripts/check_tested.sh    # from any directory; exit status 1 if anything is reported
set -euo pipefail
cd "$(dirname "$0")/.."
tests=(tests/*.cpp tests/*.hpp)
status=0

# Building blocks of the ops' implementations, tested through the ops that use them.
helpers=(autograd/ops/broadcast.hpp autograd/ops/map_unary.hpp)
for header in autograd/ops/*.hpp; do
  [[ " ${helpers[*]} " == *" $header "* ]] && continue
  ops=$({ grep -oE '^[A-Za-z_][A-Za-z0-9_:<>, ]*[ &*]([a-z_][a-z0-9_]*)\(' "$header" || true; } |
    sed -E 's/.*[ &*]([a-z_][a-z0-9_]*)\($/\1/' | sort -u)
  for op in $ops; do
    grep -qE "\\b$op\\(" "${tests[@]}" && continue
    grep -qE "operator.*\\{ *return $op\\(" "$header" && continue
    echo "$header: op $op: no test calls it"
    status=1
  done
done

# The modules, as "name has_forward"; a template (a base such as CallableModule) is no module.
modules=$(awk '
  /^class [A-Z][A-Za-z0-9]*( final)? : public (Module|CallableModule<)/ && previous !~ /^template/ {
    name = $2; has_forward = 0
  }
  name && /forward\(/ { has_forward = 1 }
  name && /^};/ { print name, has_forward; name = "" }
  { previous = $0 }' nn/*.hpp)
while read -r module has_forward; do
  [[ $has_forward == 1 ]] || continue
  grep -qF "TEST_CASE(\"gradcheck nn.$module\")" "${tests[@]}" && continue
  echo "nn/: module $module: no test case \"gradcheck nn.$module\""
  status=1
done <<<"$modules"

exit $status
