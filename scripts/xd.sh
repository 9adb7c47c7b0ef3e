#!/usr/bin/env bash
# Cross-dataset transfer and domain generalisation for any registered trainer (CoOp's xd_train.sh/xd_test.sh
# arguments after the trainer; python -m hgclip.cli.xd):
#   bash scripts/xd.sh TRAINER train SEED [-- KEY VALUE ...]           # train on the source (ImageNet, 16 shots)
#   bash scripts/xd.sh TRAINER test DATASET SEED [-- KEY VALUE ...]    # evaluate it on configs/datasets/<DATASET>.yaml
#   bash scripts/xd.sh TRAINER dg [SEED ...] [-- KEY VALUE ...]        # both, for ImageNet -> -V2, -Sketch, -A, -R:
#                                                                      # one per-level table with the mean over targets
# Environment: DATA (dataset root, default ./data; for dg: imagenet/, imagenetv2/, imagenet-sketch/,
# imagenet-adversarial/, imagenet-rendition/ in CoOp's layout), OUTPUT (default ./output), SHOTS (default 16),
# SOURCE (source dataset config, default imagenet), CFG (a trainer config file, or a config name or role of the
# trainer; default: its "base2new" config, "tiny" on hiershapes), VERBOSE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 || ! $2 =~ ^(train|test|dg)$ ]]; then
  echo "usage: bash scripts/xd.sh TRAINER train SEED | test DATASET SEED | dg [SEED ...] [-- KEY VALUE ...]" >&2
  exit 2
fi
TRAINER=$1; STAGE=$2; shift 2
ARGS=()
while [[ $# -gt 0 && $1 != "--" ]]; do ARGS+=("$1"); shift; done
[[ $# -gt 0 && $1 == "--" ]] && shift
FLAGS=()
[[ -n ${VERBOSE:-} && ${VERBOSE} != 0 ]] && FLAGS+=(--verbose)
exec python -m hgclip.cli.xd "$STAGE" ${ARGS[@]+"${ARGS[@]}"} --trainer "$TRAINER" ${FLAGS[@]+"${FLAGS[@]}"} --opts "$@"
