#!/usr/bin/env sh
# Builds converged.wasm with componentize-py against modelgate's wit/.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
"${COMPONENTIZE_PY:-componentize-py}" -d ../../../wit -w validator componentize app -o converged.wasm
echo "built $here/converged.wasm"
