#!/bin/sh
# Test an experiment with Pointcept's tester and the pointcept-dos classes registered.
# Same flags as Pointcept's scripts/test.sh:
#   -p python  -d dataset  -c config name or path (default: exp/<dataset>/<name>/config.py)
#   -n experiment name  -w weight name in exp/<dataset>/<name>/model/ (default model_best)
#   -g GPUs per machine  -m machines
# -g 0: CPU smoke mode, one process (see pointcept_dos/cpu_mode.py).
# Extra Pointcept --options after the flags: tools/test.sh -g 0 -n NAME -- data.test.data_root=...

CALLER_DIR=$(pwd)
cd "$(dirname "$(dirname "$0")")" || exit 1
ROOT_DIR=$(pwd)
. "${ROOT_DIR}/tools/_dos_common.sh"

PYTHON=python
TEST_CODE=test.py
DATASET=scannet
CONFIG="None"
EXP_NAME=debug
WEIGHT=model_best
NUM_GPU=None
NUM_MACHINE=1
DIST_URL="auto"

while getopts "p:d:c:n:w:g:m:" opt; do
  case $opt in
    p) PYTHON=$OPTARG ;;
    d) DATASET=$OPTARG ;;
    c) CONFIG=$OPTARG ;;
    n) EXP_NAME=$OPTARG ;;
    w) WEIGHT=$OPTARG ;;
    g) NUM_GPU=$OPTARG ;;
    m) NUM_MACHINE=$OPTARG ;;
    \?) echo "Invalid option: -$OPTARG" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "$1" = "--" ] && shift

dos_find_pointcept
dos_resolve_gpus

echo "Experiment name: $EXP_NAME"
echo "Python interpreter dir: $PYTHON"
echo "Dataset: $DATASET"
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

if [ "${CONFIG}" = "None" ]; then
  CONFIG_PATH=${ROOT_DIR}/${EXP_DIR}/config.py
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

echo "Loading config in: $CONFIG_PATH"
# Pointcept's test.sh runs the checkout as is; we prepend it, keeping pointcept-dos importable.
export PYTHONPATH="${POINTCEPT_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
echo "Running code in: $POINTCEPT_ROOT"

echo " =========> RUN TASK <========="
ulimit -n 65536 2>/dev/null || true
exec "$PYTHON" -u tools/$TEST_CODE \
  --config-file "$CONFIG_PATH" \
  --num-gpus "$NUM_GPU" \
  --num-machines "$NUM_MACHINE" \
  --machine-rank ${SLURM_NODEID:-0} \
  --dist-url ${DIST_URL} \
  --options save_path="$EXP_DIR" weight="$WEIGHT_PATH" "$@"
