#!/usr/bin/env bash
# Builds dist/ unless it is newer than every file it is built from: npm start does not wait
# for a build it does not need (a full one takes about 5 s here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=dist/.tsbuildinfo
if [ -f "$stamp" ] && [ -z "$(find src migrations tsconfig.json tsconfig.build.json package.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
npm run build --silent
# tsc leaves its build info as it was when nothing changed: the stamp says when it was checked.
touch "$stamp"
