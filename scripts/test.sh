#!/usr/bin/env bash
# Owns: the test entry point (`npm test`): build with tsc, run tap (config in .taprc), and print a final
# `N passed, N failed` line counting top-level test FILES from the raw TAP stream.
#
# usage: bash scripts/test.sh [tap args / test files...]
#   bash scripts/test.sh                                  # all test/**/*.test.ts
#   bash scripts/test.sh test/scripts/testbed.test.ts     # just one file
#   SKIP_BUILD=1 bash scripts/test.sh ...                 # skip `npm run build`
# Exit status: 0 iff every test file passed (and the build succeeded).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

summary() { # passed failed
  echo "$1 passed, $2 failed"
}

if [[ "${SKIP_BUILD:-}" != "1" ]]; then
  if ! npm run --silent build; then
    echo "# build failed (npm run build)"
    summary 0 1
    exit 1
  fi
fi

TAP_BIN=./node_modules/.bin/tap
if [[ ! -x "$TAP_BIN" ]]; then
  echo "# $TAP_BIN not found; run 'npm ci' first"
  summary 0 1
  exit 1
fi

raw="$(mktemp "${TMPDIR:-/tmp}/prescient-tap.XXXXXX")"
trap 'rm -f "$raw"' EXIT

# Raw TAP on stdout (the `tap` reporter), also captured for counting. Child-process stderr is passed through.
"$TAP_BIN" --reporter=tap --no-color "$@" | tee "$raw"
rc=${PIPESTATUS[0]}

# Top-level (unindented) result lines are one per test file.
passed=$(grep -cE '^ok [0-9]+' "$raw" || true)
failed=$(grep -cE '^not ok [0-9]+' "$raw" || true)

if [[ $rc -ne 0 && $failed -eq 0 ]]; then
  # tap failed without a failing file (bad args, no test files matched, runner crash, ...).
  echo "# tap exited with status $rc without reporting a failing test file"
  failed=1
fi
if [[ $passed -eq 0 && $failed -eq 0 ]]; then
  echo "# no test files ran"
  failed=1
fi

if [[ $failed -ne 0 ]]; then
  # Repeat what failed just above the count, so a log cut to its tail still names it.
  echo "# failed files and their failing assertions:"
  grep -anE '^\s*not ok ' "$raw" | grep -vE '# (TODO|SKIP)' | head -40 | sed 's/^/#   /'
fi
summary "$passed" "$failed"
[[ $failed -eq 0 ]]
