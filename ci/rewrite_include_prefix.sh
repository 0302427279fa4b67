#!/usr/bin/env bash
# Rewrites taskleak's own #include lines to the public spelling:
#   #include "runtime/thread_list.h"  ->  #include "taskleak/runtime/thread_list.h"
# (and the same for leakcheck/ and testing/). Idempotent: lines already
# spelled "taskleak/..." are left alone. Both spellings build, in Bazel and
# CMake; this only makes the sources show what users write.
#
#   ci/rewrite_include_prefix.sh            # rewrite the whole repository
#   ci/rewrite_include_prefix.sh FILE...    # only these files
#
# examples/consumer keeps the old spelling on purpose: it proves that the
# old spelling still builds for users of @taskleak.
#
# Rewritten files are then clang-formatted (if clang-format is installed):
# the renamed includes sort differently.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files -- '*.cc' '*.h' | grep -v -e '^examples/cmake/' -e '^examples/consumer/')
fi
[ ${#files[@]} -gt 0 ] || exit 0

# Only quoted includes that start with one of the three directories;
# <...> includes and every other path stay as they are.
changed=()
for f in "${files[@]}"; do
  before=$(md5sum <"$f")
  sed -E -i 's@^([[:space:]]*#[[:space:]]*include[[:space:]]+")((runtime|leakcheck|testing)/[^"]+\.h")@\1taskleak/\2@' "$f"
  [ "$(md5sum <"$f")" = "$before" ] || changed+=("$f")
done
if [ ${#changed[@]} -gt 0 ] && command -v clang-format >/dev/null; then
  clang-format -i "${changed[@]}"
fi
echo "ci/rewrite_include_prefix.sh: rewrote includes in ${#changed[@]} of ${#files[@]} files"
