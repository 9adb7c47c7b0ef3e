#!/usr/bin/env bash
# Cross-dataset / domain generalisation, step 1 (CoOp's xd_train.sh): train CoCoOp on the source (ImageNet, 16 shots).
#   bash scripts/cocoop/xd_train.sh SEED        (environment: DATA, OUTPUT, SHOTS, SOURCE, CFG; see scripts/run_xd.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/run_xd.sh CoCoOp train "$@"
