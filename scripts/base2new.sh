#!/usr/bin/env bash
# Base-to-new generalisation for any registered trainer: train on base classes, test on base and new, print
# per-level base/new/HM (python -m hgclip.cli.base2new).
#
#   bash scripts/base2new.sh TRAINER [DATASET] [SEED ...] [-- KEY VALUE ...]
#   bash scripts/base2new.sh CoOp                           # embedded default: HierShapes + tiny CLIP, seed 1
#   bash scripts/base2new.sh MaPLe fgvc_aircraft 1 2 3      # a real dataset (the trainer's ViT-B/16 config)
#
# Config: the trainer's "tiny" config on hiershapes, else its "base2new" one (its CONFIGS,
# hgclip.engine.named_configs); CFG (a YAML file, or a config name or role of the trainer) overrides both.
# Environment: DATA (dataset root, default ./data), OUTPUT (default ./output), SHOTS (default 16),
# NPROC=N runs every train.py through torchrun with N processes (TORCHRUN_ARGS replaces --standalone).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 || $1 == "--" ]]; then
  echo "usage: bash scripts/base2new.sh TRAINER [DATASET] [SEED ...] [-- KEY VALUE ...]" >&2
  exit 2
fi
TRAINER=$1; shift
DATASET=hiershapes
if [[ $# -gt 0 && $1 != "--" ]]; then DATASET=$1; shift; fi
SEEDS=()
while [[ $# -gt 0 && $1 != "--" ]]; do SEEDS+=("$1"); shift; done
[[ ${#SEEDS[@]} -eq 0 ]] && SEEDS=(1)
[[ $# -gt 0 && $1 == "--" ]] && shift
CONFIG=()
[[ -n ${CFG:-} ]] && CONFIG=(--config "$CFG")
exec python -m hgclip.cli.base2new --trainer "$TRAINER" --dataset "$DATASET" ${CONFIG[@]+"${CONFIG[@]}"} \
  --seeds "${SEEDS[@]}" --shots "${SHOTS:-16}" --root "${DATA:-data}" --output "${OUTPUT:-output}" "$@"
