#!/usr/bin/env bash
# Base-to-new generalisation with (hierarchical) IVLP; same arguments as scripts/hgclip/base2new.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/run_base2new.sh IVLP "$@"
