#!/usr/bin/env bash
# Bring a bare machine to a working finchain environment: uv (installed with pip when missing),
# then the locked dependencies. Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
    echo "==> installing uv with pip"
    python3 -m pip install --quiet --disable-pip-version-check uv
fi
export UV_PYTHON_PREFERENCE=only-system UV_PYTHON_DOWNLOADS=never
echo "==> uv sync --frozen"
uv sync --frozen --quiet
