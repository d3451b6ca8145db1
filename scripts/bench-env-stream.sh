#!/usr/bin/env bash
# Isolated environment for the stream benchmark's peers (Bytewax, River, Pathway).
# They are comparison tools, never product dependencies: installed into .benchenv/stream
# (git-ignored) with the system Python. Usage: scripts/bench-env-stream.sh
# Prints the path of the venv's python on success; a peer whose install fails is skipped
# by `finchain bench stream` with a note.
set -uo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_PREFERENCE=only-system UV_PYTHON_DOWNLOADS=never
env_dir=.benchenv/stream
py="$env_dir/bin/python"
if [ ! -x "$py" ]; then
    uv venv --python-preference only-system "$env_dir" >&2 || exit 1
fi
for pkg in river bytewax pathway; do
    mod="$pkg"
    if ! "$py" -c "import $mod" >/dev/null 2>&1; then
        echo "==> installing $pkg into $env_dir" >&2
        VIRTUAL_ENV="$env_dir" uv pip install --python "$py" "$pkg" >&2 \
            || echo "warning: $pkg failed to install; the benchmark will skip it" >&2
    fi
done
echo "$py"
