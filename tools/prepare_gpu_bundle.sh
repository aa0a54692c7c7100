#!/bin/sh
# Fill gpu-bundle/ (git-ignored) with what a lent GPU machine lacks and cannot download: the
# wheels of tools/gpu_bundle.txt for its CPython 3.12 (spconv-cu126, cumm-cu126 and their
# pure-Python needs; Pointcept's addict, yapf, termcolor, tensorboardX) and a copy of your
# Pointcept checkout ($POINTCEPT_ROOT: pointcept/ and configs/), packed with xz. Run it on a
# machine with the package index; it takes a few minutes (xz -9 of about 400 MB).
#   POINTCEPT_ROOT=... sh tools/prepare_gpu_bundle.sh [--out gpu-bundle] [--wheels DIR]
# Then, on the GPU machine, carrying gpu-bundle: sh tools/gpu_check.sh --out DIR
cd "$(dirname "$(dirname "$0")")" || exit 1
exec "${PYTHON:-python3}" tools/gpu_bundle.py prepare "$@"
