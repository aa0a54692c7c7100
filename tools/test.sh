#!/bin/sh
# Test an experiment with Pointcept's tester and the pointcept-dos classes registered.
# Same flags as Pointcept's scripts/test.sh:
#   -p python  -d dataset  -c config name or path (default: exp/<dataset>/<name>/config.py)
#   -n experiment name  -w weight name in exp/<dataset>/<name>/model/ (default model_best)
#   -g GPUs per machine  -m machines
# -g 0: CPU smoke mode, one process (see pointcept_dos/integration/cpu_mode.py).
# Extra Pointcept --options after the flags: tools/test.sh -g 0 -n NAME -- data.test.data_root=...

CALLER_DIR=$(pwd)
cd "$(dirname "$(dirname "$0")")" || exit 1
ROOT_DIR=$(pwd)
. "${ROOT_DIR}/tools/_dos_common.sh"

TEST_CODE=test.py
WEIGHT=model_best

dos_parse_flags "p:d:c:n:w:g:m:" "$@"
shift "$DOS_SHIFT"

dos_find_pointcept
dos_resolve_gpus

dos_print_settings

dos_set_exp_dir
MODEL_DIR=${EXP_DIR}/model

if [ "${CONFIG}" = "None" ]; then
  CONFIG_PATH=${EXP_DIR}/config.py
  if [ ! -f "$CONFIG_PATH" ]; then
    echo "error: no experiment config at $CONFIG_PATH (train first, or pass -c)" >&2
    exit 2
  fi
else
  dos_resolve_config "$CONFIG" "$DATASET"
fi
case "$WEIGHT" in
  */*|*.pth) WEIGHT_PATH=$(dos_from_caller "$WEIGHT") ;;  # a path to a .pth file
  *) WEIGHT_PATH=${MODEL_DIR}/${WEIGHT}.pth ;;  # a name in the experiment's model/ folder
esac
dos_refuse_changed_path "weight (-w)" "$WEIGHT_PATH" "Pointcept's tester would look for another file"

echo "Loading config in: $CONFIG_PATH"
# Pointcept's test.sh runs the checkout as is; we prepend it, keeping pointcept-dos importable.
export PYTHONPATH="${POINTCEPT_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
echo "Running code in: $POINTCEPT_ROOT"

DOS_PYTHON_FLAGS=-u
dos_launch tools/$TEST_CODE weight="$WEIGHT_PATH" "$@"
