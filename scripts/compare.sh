#!/usr/bin/env bash
# Compare trainers in the HGCLIP paper's protocol (Table 1: top-1 per hierarchy level, all classes).
#
#   bash scripts/compare.sh                                  # embedded default: every registered trainer, seed 1
#   bash scripts/compare.sh hiershapes CoOp HGCLIP 1 2 3     # some trainers, three seeds
#   bash scripts/compare.sh fgvc_aircraft 1 2 3              # a real dataset with vit_b16_ep50_paper.yaml configs
#   bash scripts/compare.sh hiershapes CoOp 1 -- OPTIM.MAX_EPOCH 5   # config options for every run after "--"
#   bash scripts/compare.sh hiershapes MaPLe MaPLe+ProTeCt 1 2 3     # TRAINER+VARIANT: configs/variants/<VARIANT>.yaml on top
#
# Environment: DATA (dataset root, default ./data), OUTPUT (default ./output), SHOTS (DATASET.NUM_SHOTS;
# default 16 on hiershapes, -1 = full training set otherwise), CFG_<TRAINER> (config file of one trainer,
# e.g. CFG_CoOp=configs/trainers/CoOp/vit_b16_ep50.yaml), VERBOSE=1 (full output of every run),
# NPROC (processes per run, through torchrun; TORCHRUN_ARGS replaces --standalone for several machines).
# Writes comparison.md, comparison.csv and comparison.png into $OUTPUT/compare/<dataset>/.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAGS=()
[[ -n ${VERBOSE:-} && ${VERBOSE} != 0 ]] && FLAGS+=(--verbose)
exec python -m hgclip.cli.compare --root "${DATA:-data}" --output "${OUTPUT:-output}" ${FLAGS[@]+"${FLAGS[@]}"} "$@"
