#!/usr/bin/env sh
# Builds runtime.wasm with componentize-py against modelgate's wit/, with
# modelgate's Python helpers (plugins/python/modelgate_plugin.py) on its path.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
"${COMPONENTIZE_PY:-componentize-py}" -d ../../../wit -w validator componentize \
  -p . -p ../../../plugins/python app -o runtime.wasm
echo "built $here/runtime.wasm"
