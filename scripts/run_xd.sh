#!/usr/bin/env bash
# Shared by scripts/<trainer>/xd_train.sh and xd_test.sh (CoOp's arguments):
#   bash scripts/run_xd.sh TRAINER train SEED [-- KEY VALUE ...]
#   bash scripts/run_xd.sh TRAINER test DATASET SEED [-- KEY VALUE ...]
# Environment: DATA (dataset root, default ./data), OUTPUT (default ./output), SHOTS (default 16),
# SOURCE (source dataset config, default imagenet), CFG (trainer config file), VERBOSE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=$1; STAGE=$2; shift 2
ARGS=()
while [[ $# -gt 0 && $1 != "--" ]]; do ARGS+=("$1"); shift; done
[[ $# -gt 0 && $1 == "--" ]] && shift
FLAGS=()
[[ -n ${VERBOSE:-} && ${VERBOSE} != 0 ]] && FLAGS+=(--verbose)
exec python -m hgclip.cli.xd "$STAGE" ${ARGS[@]+"${ARGS[@]}"} --trainer "$TRAINER" ${FLAGS[@]+"${FLAGS[@]}"} --opts "$@"
