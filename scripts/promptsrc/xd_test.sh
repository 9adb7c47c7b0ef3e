#!/usr/bin/env bash
# Cross-dataset / domain generalisation, step 2 (CoOp's xd_test.sh): evaluate the source model on DATASET.
#   bash scripts/promptsrc/xd_test.sh DATASET SEED (DATASET = configs/datasets/<name>.yaml, e.g. imagenet_a or oxford_pets)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/run_xd.sh PromptSRC test "$@"
