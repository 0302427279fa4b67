#!/usr/bin/env bash
# Appends the taskleak findings of every test binary to the GitHub job
# summary: the Markdown tables the binaries wrote (taskleak-summary.md in
# each test's outputs), kept well under GitHub's 1 MiB per step, and a line
# saying how to open the pictures. Prints one ::notice with the totals.
#
#   summarize.sh DIR [ARTIFACT]   # DIR: the collected taskleak-* files
set -uo pipefail
dir=${1:-}
artifact=${2:-taskleak-reports}
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "summarize.sh: no report directory '${dir}'; usage: summarize.sh DIR [ARTIFACT]" >&2
  exit 2
fi
limit=$((512 * 1024))
mapfile -t tables < <(find "$dir" -name taskleak-summary.md | sort)
pictures=$(find "$dir" \( -name 'taskleak-*-threads.svg' -o \
  -name 'taskleak-*-threads.pb.gz' -o -name 'taskleak-timeline.json' \) | wc -l)
rows=0
for t in "${tables[@]}"; do
  rows=$((rows + $(grep -c '^| [^-]' "$t") - 1))
done
echo "::notice title=taskleak::${rows} finding(s) in ${#tables[@]} test binary(ies); ${pictures} profile/flame graph/timeline file(s) in the artifact ${artifact}"
if [ -z "${GITHUB_STEP_SUMMARY:-}" ]; then
  echo "summarize.sh: GITHUB_STEP_SUMMARY is not set; no job summary written"
  exit 0
fi
{
  if [ ${#tables[@]} -eq 0 ]; then
    echo "### taskleak: no findings"
  fi
  written=0
  left=0
  for t in "${tables[@]}"; do
    size=$(stat -c %s "$t")
    if [ $((written + size)) -gt "$limit" ]; then
      left=$((left + 1))
      continue
    fi
    cat "$t"
    written=$((written + size))
  done
  [ "$left" -gt 0 ] && echo "${left} more test binaries' tables left out (size limit); see the artifact."
  echo
  echo "Artifact \`${artifact}\`: text/JSON reports; \`*-threads.pb.gz\`: \`go tool pprof -http=: FILE\`; \`*-threads.svg\`: flame graph, open in a browser; \`taskleak-timeline.json\`: open in ui.perfetto.dev or chrome://tracing."
} >>"$GITHUB_STEP_SUMMARY"
