#!/bin/sh
# Train a config with Pointcept's engine and the pointcept-dos classes registered.
# Same flags as Pointcept's scripts/train.sh:
#   -p python  -d dataset (configs/<dataset>/, exp/<dataset>/)  -c config name or path
#   -n experiment name  -w weight  -r true (resume)  -g GPUs per machine  -m machines
# -g 0: CPU smoke mode, one process (see pointcept_dos/cpu_mode.py).
# Extra Pointcept --options after the flags: tools/train.sh -g 0 -c NAME -- epoch=2 batch_size=2
# Needs POINTCEPT_ROOT (a Pointcept checkout) and pointcept-dos pip-installed in the interpreter.

CALLER_DIR=$(pwd)
cd "$(dirname "$(dirname "$0")")" || exit 1
ROOT_DIR=$(pwd)
. "${ROOT_DIR}/tools/_dos_common.sh"

PYTHON=python
TRAIN_CODE=train.py
DATASET=scannet
CONFIG="None"
EXP_NAME=debug
WEIGHT="None"
RESUME=false
NUM_GPU=None
NUM_MACHINE=1
DIST_URL="auto"

while getopts "p:d:c:n:w:g:m:r:" opt; do
  case $opt in
    p) PYTHON=$OPTARG ;;
    d) DATASET=$OPTARG ;;
    c) CONFIG=$OPTARG ;;
    n) EXP_NAME=$OPTARG ;;
    w) WEIGHT=$OPTARG ;;
    r) RESUME=$OPTARG ;;
    g) NUM_GPU=$OPTARG ;;
    m) NUM_MACHINE=$OPTARG ;;
    \?) echo "Invalid option: -$OPTARG" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "$1" = "--" ] && shift

dos_find_pointcept
dos_resolve_gpus
[ "${WEIGHT}" != "None" ] && WEIGHT=$(dos_from_caller "$WEIGHT")

echo "Experiment name: $EXP_NAME"
echo "Python interpreter dir: $PYTHON"
echo "Dataset: $DATASET"
echo "Config: $CONFIG"
echo "GPU Num: $NUM_GPU"
echo "Machine Num: $NUM_MACHINE"
echo "Pointcept: $POINTCEPT_ROOT"

if [ -n "$SLURM_NODELIST" ]; then
  MASTER_HOSTNAME=$(scontrol show hostname "$SLURM_NODELIST" | head -n 1)
  MASTER_ADDR=$(getent hosts "$MASTER_HOSTNAME" | awk '{ print $1 }')
  MASTER_PORT=$((10000 + 0x$(echo -n "${DATASET}/${EXP_NAME}" | md5sum | cut -c 1-4 | awk '{print $1}') % 20000))
  DIST_URL=tcp://$MASTER_ADDR:$MASTER_PORT
fi
echo "Dist URL: $DIST_URL"

EXP_DIR=exp/${DATASET}/${EXP_NAME}
MODEL_DIR=${EXP_DIR}/model
CODE_DIR=${EXP_DIR}/code

echo " =========> CREATE EXP DIR <========="
echo "Experiment dir: $ROOT_DIR/$EXP_DIR"
if [ "${RESUME}" = true ] && [ -d "$EXP_DIR" ]; then
  CONFIG_PATH=${ROOT_DIR}/${EXP_DIR}/config.py
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
export PYTHONPATH="${ROOT_DIR}/${CODE_DIR}${PYTHONPATH:+:${PYTHONPATH}}"
echo "Running code in: $CODE_DIR"

echo " =========> RUN TASK <========="
ulimit -n 65536 2>/dev/null || true
if [ "${WEIGHT}" = "None" ]; then
  exec "$PYTHON" "$CODE_DIR"/tools/$TRAIN_CODE \
    --config-file "$CONFIG_PATH" \
    --num-gpus "$NUM_GPU" \
    --num-machines "$NUM_MACHINE" \
    --machine-rank ${SLURM_NODEID:-0} \
    --dist-url ${DIST_URL} \
    --options save_path="$EXP_DIR" "$@"
else
  exec "$PYTHON" "$CODE_DIR"/tools/$TRAIN_CODE \
    --config-file "$CONFIG_PATH" \
    --num-gpus "$NUM_GPU" \
    --num-machines "$NUM_MACHINE" \
    --machine-rank ${SLURM_NODEID:-0} \
    --dist-url ${DIST_URL} \
    --options save_path="$EXP_DIR" resume="$RESUME" weight="$WEIGHT" "$@"
fi
