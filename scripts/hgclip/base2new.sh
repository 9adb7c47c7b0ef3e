#!/usr/bin/env bash
# Base-to-new generalisation with HGCLIP: train on base classes, test on base and new, print per-level base/new/HM.
#
#   bash scripts/hgclip/base2new.sh                    # embedded default: HierShapes + tiny CLIP, seed 1
#   bash scripts/hgclip/base2new.sh fgvc_aircraft 1 2 3  # a real dataset (ViT-B/16 config), three seeds
#
# Any other trainer: bash scripts/base2new.sh TRAINER [DATASET] [SEED ...] (the same arguments after the trainer).
# Environment: DATA (dataset root, default ./data), OUTPUT (default ./output), CFG (trainer config file, or a
# config name such as vit_b16_ep50_paper), SHOTS (default 16), NPROC (processes per run, through torchrun:
# NPROC=2 bash scripts/hgclip/base2new.sh; TORCHRUN_ARGS replaces --standalone with the rendezvous options of
# several machines).
# Extra config options can follow "--": bash ... hiershapes 1 -- OPTIM.MAX_EPOCH 5
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/base2new.sh HGCLIP "$@"
