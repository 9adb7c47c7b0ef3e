#!/usr/bin/env bash
# Evaluate one trained model under every decoding (TEST.DECODING) and print one table of every metric.
#
#   bash scripts/eval_decoders.sh output/compare/hiershapes/HGCLIP/tiny_hiershapes/seed1
#   bash scripts/eval_decoders.sh <model-dir> configs/datasets/cifar100.yaml      # another dataset config
#   bash scripts/eval_decoders.sh <model-dir> -- DATASET.SUBSAMPLE_CLASSES new    # extra config options
#
# <model-dir> is a train.py --output-dir (its log.txt records the run's command line, which is replayed
# with --eval-only --model-dir <model-dir> TEST.DECODING <decoder>). Each decoder's run goes to
# <model-dir>/decoders/<decoder>/ (EVAL_DIR=<dir> moves them); the table is also written to
# decoders.md and decoders.json there. VERBOSE=1 shows the full output of every run.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAGS=()
[[ -n ${VERBOSE:-} && ${VERBOSE} != 0 ]] && FLAGS+=(--verbose)
[[ -n ${EVAL_DIR:-} ]] && FLAGS+=(--out-dir "${EVAL_DIR}")
exec python -m hgclip.cli.eval_decoders ${FLAGS[@]+"${FLAGS[@]}"} "$@"
