#!/usr/bin/env bash
# Cross-dataset / domain generalisation, step 1 (CoOp's xd_train.sh): train ZeroshotCLIP on the source (ImageNet, 16 shots).
#   bash scripts/zsclip/xd_train.sh SEED        (environment: DATA, OUTPUT, SHOTS, SOURCE, CFG; see scripts/run_xd.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/run_xd.sh ZeroshotCLIP train "$@"
