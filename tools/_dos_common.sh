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
      echo "error: no CUDA GPU found; pass -g 0 explicitly for a CPU smoke run (pointcept_dos/cpu_mode.py)" >&2
      exit 2
    fi
  fi
}

# A relative file path given on the command line is meant from the caller's directory (the scripts
# cd to the repository root): make it absolute when it exists there. Prints the path to use.
dos_from_caller() {
  case "$1" in
    /*) echo "$1" ;;
    *) if [ -e "${CALLER_DIR}/$1" ]; then echo "${CALLER_DIR}/$1"; else echo "$1"; fi ;;
  esac
}
