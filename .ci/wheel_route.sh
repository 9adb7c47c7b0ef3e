#!/usr/bin/env bash
# The installed route: build the wheel from the project files and check its file list (the package and its data,
# no tests, docs or scripts), install it into a fresh venv (--system-site-packages: torch and the rest come from
# the system; the wheel must shadow any editable install there), then in an empty folder under umask 022 run the
# main job (hgclip-base2new: HGCLIP on the embedded default; the tiny CLIP is pre-trained into ~/.cache/hgclip if
# missing, about 4 minutes on 2 cores) and a zero-shot hgclip-train. Fails if a run wrote outside that folder
# (data/ and output/) or the cache, into the venv's site-packages or the checkout, or left an output file that
# is not 0644. The steps are tests/wheel_route.py (tests/e2e/test_wheel_route.py runs a short version).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python tests/wheel_route.py "$@"
