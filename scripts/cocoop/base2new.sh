#!/usr/bin/env bash
# Base-to-new generalisation with (hierarchical) CoCoOp; same arguments as scripts/hgclip/base2new.sh.
#
#   bash scripts/cocoop/base2new.sh                      # embedded default: HierShapes + tiny CLIP, seed 1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/run_base2new.sh CoCoOp "$@"
