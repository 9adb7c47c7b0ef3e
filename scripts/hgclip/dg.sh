#!/usr/bin/env bash
# Domain generalisation: train on ImageNet (16 shots), evaluate on ImageNet, -V2, -Sketch, -A and -R,
# and print one per-level table with the mean over the targets.
#
#   bash scripts/hgclip/dg.sh                      # HGCLIP, seed 1
#   bash scripts/hgclip/dg.sh MaPLe 1 2 3          # another trainer, three seeds
#
# Environment: DATA (dataset root with imagenet/, imagenetv2/, imagenet-sketch/, imagenet-adversarial/,
# imagenet-rendition/ in CoOp's layout), OUTPUT, SHOTS (default 16), CFG (trainer config file), VERBOSE=1.
# Extra config options for every run follow "--".
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=HGCLIP
if [[ $# -gt 0 && $1 != "--" && ! $1 =~ ^[0-9]+$ ]]; then TRAINER=$1; shift; fi
SEEDS=()
while [[ $# -gt 0 && $1 != "--" ]]; do SEEDS+=("$1"); shift; done
[[ $# -gt 0 && $1 == "--" ]] && shift
FLAGS=()
[[ -n ${VERBOSE:-} && ${VERBOSE} != 0 ]] && FLAGS+=(--verbose)
exec python -m hgclip.cli.xd dg ${SEEDS[@]+"${SEEDS[@]}"} --trainer "$TRAINER" ${FLAGS[@]+"${FLAGS[@]}"} --opts "$@"
