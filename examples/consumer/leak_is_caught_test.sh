#!/usr/bin/env bash
# The leaking test fails, with taskleak's report, under taskleak's main.
output=$(./leaky --taskleak_grace=100ms 2>&1)
status=$?
if [ "$status" -ne 1 ] || ! grep -q "1 thread started by LeakyTest.LeavesAThread" <<<"$output"; then
  echo "expected exit status 1 and taskleak's report, got $status:"
  echo "$output"
  exit 1
fi
echo "leak caught"
