#!/usr/bin/env bash
# test.sh — install what the tests need (scripts/ensure-deps.sh), then run the whole
# vitest suite (test/unit and test/e2e) and print one closing line:
#
#   tests: N passed, N failed, N skipped
#
# Exits non-zero if any test failed, a test file failed to load, vitest itself failed,
# or no test ran at all.
#
#   bash scripts/test.sh                              # whole suite
#   bash scripts/test.sh test/e2e/harness.test.ts     # extra args go to `vitest run` as-is
#   bash scripts/test.sh -t 'namespaces'              #   (the default test/unit test/e2e
#                                                     #    filters are added only when no
#                                                     #    argument is given)
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if ! bash scripts/ensure-deps.sh; then
  echo "test.sh: scripts/ensure-deps.sh failed; not running tests" >&2
  echo "tests: 0 passed, 0 failed, 0 skipped"
  exit 1
fi

tmp="$(mktemp -d -t berth-test.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
json="$tmp/vitest.json"

args=("$@")
if (( ${#args[@]} == 0 )); then
  args=(test/unit test/e2e)
fi

# No stdin for the tests (CI has none either); the tests must never wait on a terminal.
npx --no-install vitest run --reporter=default --reporter=json --outputFile="$json" "${args[@]}" </dev/null
vitest_rc=$?

if [[ ! -s "$json" ]]; then
  echo "test.sh: vitest wrote no JSON report (exit code $vitest_rc)" >&2
  echo "tests: 0 passed, 0 failed, 0 skipped"
  exit 1
fi

summary="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  let passed = r.numPassedTests | 0;
  let failed = r.numFailedTests | 0;
  const skipped = (r.numPendingTests | 0) + (r.numTodoTests | 0);
  // A test file that failed to load (syntax error, failing beforeAll before any test…)
  // reports no failed test; count each such file as one failure.
  for (const f of r.testResults || []) {
    if (f.status === "failed" && !(f.assertionResults || []).some((a) => a.status === "failed")) failed++;
  }
  process.stdout.write(`${passed} ${failed} ${skipped}`);
' "$json")" || { echo "test.sh: could not read $json" >&2; echo "tests: 0 passed, 0 failed, 0 skipped"; exit 1; }

read -r passed failed skipped <<<"$summary"
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"

if (( failed > 0 )); then
  exit 1
fi
if (( passed + failed == 0 )); then
  echo "test.sh: no test ran" >&2
  exit 1
fi
if (( vitest_rc != 0 )); then
  echo "test.sh: vitest exited with code $vitest_rc" >&2
  exit "$vitest_rc"
fi
exit 0
