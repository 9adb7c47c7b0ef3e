#!/usr/bin/env bash
# Shared by scripts/<trainer>/base2new.sh: bash scripts/run_base2new.sh TRAINER [DATASET] [SEED...] [-- KEY VALUE ...]
# The embedded dataset uses configs/trainers/<TRAINER>/tiny_hiershapes.yaml; other datasets the trainer's
# ViT-B/16 base-to-new config (configs/trainers/<TRAINER>/base2new.txt names it). CFG overrides both.
# NPROC=N runs every train.py through torchrun with N processes (cli/base2new.py).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=$1; shift
DATASET=hiershapes
if [[ $# -gt 0 && $1 != "--" ]]; then DATASET=$1; shift; fi
SEEDS=()
while [[ $# -gt 0 && $1 != "--" ]]; do SEEDS+=("$1"); shift; done
[[ ${#SEEDS[@]} -eq 0 ]] && SEEDS=(1)
[[ $# -gt 0 && $1 == "--" ]] && shift
if [[ -z ${CFG:-} ]]; then
  if [[ $DATASET == hiershapes ]]; then
    CFG=configs/trainers/$TRAINER/tiny_hiershapes.yaml
  else
    CFG=configs/trainers/$TRAINER/$(cat "configs/trainers/$TRAINER/base2new.txt")
  fi
fi
exec python -m hgclip.cli.base2new --trainer "$TRAINER" --dataset "$DATASET" --config "$CFG" \
  --seeds "${SEEDS[@]}" --shots "${SHOTS:-16}" --root "${DATA:-data}" --output "${OUTPUT:-output}" "$@"
