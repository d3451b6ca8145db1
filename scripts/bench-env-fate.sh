#!/usr/bin/env bash
# Prepare the isolated FATE 2.2 environment used by `finchain bench fl --vs-fate`.
# FATE is a comparison peer only: it lives in .benchenv/fate (git-ignored) and never in the
# product dependencies. pandas is pinned to 2.2.3 because pandas 3 breaks FATE 2.2's message
# deserialiser. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_PREFERENCE=only-system UV_PYTHON_DOWNLOADS=never
ENV=.benchenv/fate
if [ -x "$ENV/bin/python" ] && "$ENV/bin/python" -c "import fate, fate_client" 2>/dev/null; then
    echo "==> $ENV already prepared"
    exit 0
fi
mkdir -p .benchenv
echo "==> uv venv $ENV"
uv venv --quiet "$ENV"
echo "==> installing pyfate==2.2.0 fate-client==2.2.0 pandas==2.2.3 into $ENV"
VIRTUAL_ENV="$PWD/$ENV" uv pip install --quiet --python "$ENV/bin/python" \
    pyfate==2.2.0 fate-client==2.2.0 pandas==2.2.3
"$ENV/bin/python" -c "import fate, fate_client; print('FATE', getattr(fate, '__version__', '2.2.0'), 'ready')"
