#!/usr/bin/env bash
# Install the console's front-end packages (the uPlot chart library and Swagger UI for the API
# pages of every finchain service) with npm, from the lock file, into
# src/finchain/console/web/node_modules (git-ignored). finchain serves them itself; nothing is
# fetched from a CDN at run time. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../src/finchain/console/web"
if [ -f node_modules/uplot/dist/uPlot.iife.min.js ] && [ -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "==> npm not found: the console will draw its charts without uPlot (sudo apt-get install npm)" >&2
    exit 0
fi
echo "==> npm ci (console chart library, Swagger UI)"
npm ci --no-audit --no-fund --silent
