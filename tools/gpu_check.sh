#!/bin/sh
# The GPU check (bench/gpu_check.py) in one command: unpacks the GPU bundle (gpu-bundle/, made by
# tools/prepare_gpu_bundle.sh) into a scratch folder, puts its packages and its Pointcept copy in
# place, turns on the stand-ins for the extensions it lacks (DOS_STANDINS=1 unless set), then
# runs every section and writes results.json and gpu_check.log into --out.
#   sh tools/gpu_check.sh --out gpu-check                # on the GPU machine
#   sh tools/gpu_check.sh --dry-run --out gpu-check      # every section on the CPU, tiny sizes
#   sh tools/gpu_check.sh --no-bundle ...                # this environment's packages and $POINTCEPT_ROOT
# Other options go to bench/gpu_check.py (--sections a,b  --budget-s S  --keep-work).
# GPU_BUNDLE (default gpu-bundle) names the bundle, DOS_BUNDLE_DIR where it is unpacked.
cd "$(dirname "$(dirname "$0")")" || exit 1
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "error: $PYTHON cannot import torch; set PYTHON to the interpreter of your torch environment" >&2
  exit 2
fi
BUNDLE=${GPU_BUNDLE:-gpu-bundle}
if [ "$1" = "--no-bundle" ]; then
  shift
  if [ -z "${POINTCEPT_ROOT}" ]; then
    echo "error: --no-bundle needs POINTCEPT_ROOT (a Pointcept checkout)" >&2
    exit 2
  fi
else
  DEST=${DOS_BUNDLE_DIR:-${TMPDIR:-/tmp}/dos-gpu-bundle}
  "$PYTHON" tools/gpu_bundle.py unpack --bundle "$BUNDLE" --dest "$DEST" || exit 2
  . "$DEST/env.sh"
fi
# stand-ins only for what is missing; a dry run rehearses the GPU machine's set: all of them
STANDINS=1
for arg in "$@"; do [ "$arg" = "--dry-run" ] && STANDINS=all; done
DOS_STANDINS=${DOS_STANDINS:-$STANDINS}
export DOS_STANDINS
exec "$PYTHON" bench/gpu_check.py "$@"
