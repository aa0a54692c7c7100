#!/bin/sh
# Train a config with Pointcept's engine and the pointcept-dos classes registered.
# Same flags as Pointcept's scripts/train.sh:
#   -p python  -d dataset (configs/<dataset>/, exp/<dataset>/)  -c config name or path
#   -n experiment name  -w weight  -r true (resume)  -g GPUs per machine  -m machines
# -g 0: CPU smoke mode, one process (see pointcept_dos/integration/cpu_mode.py);
#   DOS_CPU_PROCESSES=2 tools/train.sh -g 0 ... runs 2 processes (DDP over gloo, as -g 2 on GPUs).
# Extra Pointcept --options after the flags: tools/train.sh -g 0 -c NAME -- epoch=2 batch_size=2
# Needs POINTCEPT_ROOT (a Pointcept checkout) and pointcept-dos pip-installed in the interpreter.

CALLER_DIR=$(pwd)
cd "$(dirname "$(dirname "$0")")" || exit 1
ROOT_DIR=$(pwd)
. "${ROOT_DIR}/tools/_dos_common.sh"

TRAIN_CODE=train.py
WEIGHT="None"
RESUME=false

dos_parse_flags "p:d:c:n:w:g:m:r:" "$@"
shift "$DOS_SHIFT"

dos_find_pointcept
dos_resolve_gpus
if [ "${WEIGHT}" != "None" ]; then
  WEIGHT=$(dos_from_caller "$WEIGHT")
  dos_refuse_changed_path "weight (-w)" "$WEIGHT" \
    "Pointcept would look for another file and, finding none, train from scratch (it only logs 'No weight found')"
fi

dos_print_settings

dos_set_exp_dir create
MODEL_DIR=${EXP_DIR}/model
CODE_DIR=${EXP_DIR}/code

echo " =========> CREATE EXP DIR <========="
echo "Experiment dir: $EXP_DIR"
if [ "${RESUME}" = true ] && [ -d "$EXP_DIR" ]; then
  CONFIG_PATH=$(cd "$EXP_DIR" && pwd)/config.py
  WEIGHT=$MODEL_DIR/model_last.pth
else
  RESUME=false
  if [ "${CONFIG}" = "None" ]; then
    echo "error: -c config is required" >&2
    exit 2
  fi
  dos_resolve_config "$CONFIG" "$DATASET"
  mkdir -p "$MODEL_DIR" "$CODE_DIR"
  # snapshot of the code that runs, as Pointcept does
  cp -r "${POINTCEPT_ROOT}/pointcept" tools "$CODE_DIR"
  [ -d pointcept_dos ] && cp -r pointcept_dos "$CODE_DIR"
fi

echo "Loading config in: $CONFIG_PATH"
# Pointcept's script replaces PYTHONPATH; we prepend, so the pip-installed pointcept-dos (and
# anything else the user set) stays importable.
export PYTHONPATH="$(cd "$CODE_DIR" && pwd)${PYTHONPATH:+:${PYTHONPATH}}"
echo "Running code in: $CODE_DIR"

if [ "${WEIGHT}" != "None" ]; then
  set -- resume="$RESUME" weight="$WEIGHT" "$@"
fi
dos_launch "$CODE_DIR"/tools/$TRAIN_CODE "$@"
