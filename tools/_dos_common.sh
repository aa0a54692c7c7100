# Shared by tools/train.sh and tools/test.sh (POSIX sh, sourced; not run on its own).

# Finds Pointcept from POINTCEPT_ROOT (a checkout: it has no setup.py, it is used from source).
dos_find_pointcept() {
  if [ -z "${POINTCEPT_ROOT}" ]; then
    echo "error: POINTCEPT_ROOT is not set; set it to a Pointcept checkout, e.g." >&2
    echo "  export POINTCEPT_ROOT=\$HOME/Pointcept" >&2
    exit 2
  fi
  if [ ! -f "${POINTCEPT_ROOT}/pointcept/__init__.py" ] || [ ! -d "${POINTCEPT_ROOT}/configs" ]; then
    echo "error: POINTCEPT_ROOT=${POINTCEPT_ROOT} is not a Pointcept checkout (no pointcept/__init__.py or configs/)" >&2
    exit 2
  fi
  POINTCEPT_ROOT=$(cd "${POINTCEPT_ROOT}" && pwd)
  export POINTCEPT_ROOT
}

# Resolves -c: an existing file path (e.g. configs/dos/scannet-pretrain.py), else a name looked up as
# configs/<dataset>/<name>.py here, then in Pointcept. Sets CONFIG_PATH (absolute).
dos_resolve_config() {
  _name=$1
  _dataset=$2
  CONFIG_PATH=""
  for _candidate in "${CALLER_DIR}/${_name}" "${_name}" "${ROOT_DIR}/${_name}" \
    "${ROOT_DIR}/configs/${_dataset}/${_name}.py" "${POINTCEPT_ROOT}/configs/${_dataset}/${_name}.py"; do
    case "${_candidate}" in
      /*) ;;
      *) continue ;;
    esac
    if [ -f "${_candidate}" ]; then
      CONFIG_PATH=$(cd "$(dirname "${_candidate}")" && pwd)/$(basename "${_candidate}")
      return 0
    fi
  done
  echo "error: config '${_name}' not found (as a path, in configs/${_dataset}/ here, or in \$POINTCEPT_ROOT/configs/${_dataset}/)" >&2
  exit 2
}

# -g not given: like Pointcept, count GPUs; but never fall into CPU mode silently.
dos_resolve_gpus() {
  if [ "${NUM_GPU}" = "None" ]; then
    NUM_GPU=$("${PYTHON}" -c 'import torch; print(torch.cuda.device_count())')
    if [ "${NUM_GPU}" = "0" ]; then
      echo "error: no CUDA GPU found; pass -g 0 explicitly for a CPU smoke run (pointcept_dos/integration/cpu_mode.py)" >&2
      exit 2
    fi
  fi
  if [ "${NUM_GPU}" = "0" ]; then
    # CPU smoke mode: OpenMP threads that spin while waiting make a shared CPU ~10x slower
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
    export OMP_WAIT_POLICY
  fi
}

# A relative file path given on the command line is meant from the caller's directory (the scripts
# cd to the repository root) when it exists there, else from the repository root, where Pointcept
# runs. Prints it absolute: Pointcept's --options parser would read a bare "12" or "true" as a
# number or a bool.
dos_from_caller() {
  case "$1" in
    /*) echo "$1" ;;
    *) if [ -e "${CALLER_DIR}/$1" ]; then echo "${CALLER_DIR}/$1"; else echo "${ROOT_DIR}/$1"; fi ;;
  esac
}

# Prints why Pointcept would not keep the path $1 as given, or nothing. Every path the scripts
# hand over (save_path, weight) goes through Pointcept's --options parser (DictAction in
# pointcept/utils/config.py), then into the config.py it writes with the value between '...'
# unescaped and reads back on resume. tests/integration/test_tools.py holds this list against
# Pointcept's own parser.
dos_path_trouble() {
  case "$1" in
    *" "*) printf "a space: Pointcept's --options parser deletes spaces, so it would use '%s'\n" "$(printf '%s' "$1" | tr -d ' ')" ;;
    *,*) echo "a comma: Pointcept's --options parser splits a value into a list at its commas" ;;
    *\'*) echo "a quote ('): Pointcept writes config.py with the value between '...' unescaped, which breaks it (and its --options parser strips a quote at either end)" ;;
    *\") echo "a closing double quote: Pointcept's --options parser strips quotes at either end of a value" ;;
    *\\*) echo "a backslash: Pointcept writes config.py with the value unescaped, so a resume would read it back as an escape sequence" ;;
    *"{{"*) echo "'{{': Pointcept replaces {{ ... }} placeholders when it reads config.py back on resume" ;;
    *[[:cntrl:]]*) echo "a control character (newline, tab, ...): Pointcept writes config.py with the value unescaped, where a line break makes it unreadable" ;;
  esac
}

# Exits 2 when Pointcept would change a path: dos_refuse_changed_path WHAT PATH CONSEQUENCE.
# (printf, not echo: dash's echo would turn a backslash in the path into an escape.)
dos_refuse_changed_path() {
  _trouble=$(dos_path_trouble "$2")
  if [ -n "${_trouble}" ]; then
    printf "error: %s '%s' contains %s; %s\n" "$1" "$2" "${_trouble}" "$3" >&2
    exit 2
  fi
}

# Sets EXP_DIR, the experiment folder <exp root>/<dataset>/<name>: exp/ in the repository root,
# as Pointcept, or DOS_EXP_ROOT (a scratch disk, a test's tmp; relative: from the caller's
# directory). `dos_set_exp_dir create` makes the exp root when missing. Pointcept gets the folder
# as save_path: one it would change would put config, checkpoints and log elsewhere than the code
# snapshot (resume then finds nothing) and could give two names one folder, so it is refused
# (exit 2) before anything is created.
dos_set_exp_dir() {
  if [ -z "${DOS_EXP_ROOT}" ]; then
    _exp_root=${ROOT_DIR}/exp
  else
    case "${DOS_EXP_ROOT}" in
      /*) _exp_root=${DOS_EXP_ROOT} ;;
      *) _exp_root=${CALLER_DIR}/${DOS_EXP_ROOT} ;;
    esac
  fi
  EXP_DIR=${_exp_root}/${DATASET}/${EXP_NAME}
  _split="code, config, checkpoints and logs would not share one folder (a resume would not find them), and names that differ only there would share one; choose another -n, -d or DOS_EXP_ROOT"
  dos_refuse_changed_path "experiment folder (DOS_EXP_ROOT or exp/, -d, -n)" "${EXP_DIR}" "${_split}"
  case "${EXP_DIR}" in
    *:*)
      printf "error: experiment folder '%s' contains a colon: train.sh puts its code snapshot on PYTHONPATH, where ':' separates entries, so the snapshot would not be the code that runs; choose another -n, -d or DOS_EXP_ROOT\n" "${EXP_DIR}" >&2
      exit 2 ;;
  esac
  if [ "$1" = create ] && ! mkdir -p "${_exp_root}"; then
    printf "error: cannot create the experiment root '%s' (DOS_EXP_ROOT or exp/)\n" "${_exp_root}" >&2
    exit 2
  fi
  if [ -d "${_exp_root}" ]; then
    _exp_root=$(cd "${_exp_root}" && pwd) || exit 2
    EXP_DIR=${_exp_root}/${DATASET}/${EXP_NAME}
  fi
}

# Defaults of the flags both scripts take (Pointcept's); each script sets WEIGHT (and RESUME).
PYTHON=python
DATASET=scannet
CONFIG="None"
EXP_NAME=debug
NUM_GPU=None
NUM_MACHINE=1
DIST_URL="auto"

# Parses Pointcept's flags: dos_parse_flags OPTSTRING "$@" sets PYTHON (-p), DATASET (-d),
# CONFIG (-c), EXP_NAME (-n), WEIGHT (-w), RESUME (-r), NUM_GPU (-g), NUM_MACHINE (-m), for the
# letters in OPTSTRING; DOS_SHIFT is how many arguments they took, a "--" after them included:
# the caller runs `shift "$DOS_SHIFT"` and passes the rest on as --options.
dos_parse_flags() {
  _optstring=$1
  shift
  OPTIND=1
  while getopts "$_optstring" opt; do
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
  DOS_SHIFT=$((OPTIND - 1))
  shift "$DOS_SHIFT"
  if [ "$1" = "--" ]; then
    DOS_SHIFT=$((DOS_SHIFT + 1))
  fi
}

# Prints the run's settings (as Pointcept's scripts do) and sets DIST_URL for a SLURM job.
dos_print_settings() {
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
}

# Replaces the shell with a Pointcept entry point: dos_launch ENTRY [--options values...].
# Passes CONFIG_PATH, NUM_GPU, NUM_MACHINE, the SLURM node rank, DIST_URL and
# save_path=EXP_DIR; DOS_PYTHON_FLAGS (e.g. -u) go to the interpreter.
dos_launch() {
  _entry=$1
  shift
  echo " =========> RUN TASK <========="
  ulimit -n 65536 2>/dev/null || true
  # shellcheck disable=SC2086  # DOS_PYTHON_FLAGS: zero or more words
  exec "$PYTHON" ${DOS_PYTHON_FLAGS} "$_entry" \
    --config-file "$CONFIG_PATH" \
    --num-gpus "$NUM_GPU" \
    --num-machines "$NUM_MACHINE" \
    --machine-rank ${SLURM_NODEID:-0} \
    --dist-url ${DIST_URL} \
    --options save_path="$EXP_DIR" "$@"
}
