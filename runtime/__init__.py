"""The run-time base every layer above may use: the Dassl API (the real ``dassl`` or the built-in engine,
:mod:`.dassl_api`), the run directory and its files (:mod:`.run_dir`), torchrun glue (:mod:`.distributed`)
and RNG capture and isolation (:mod:`.rng`). It imports nothing of this project but :mod:`hgclip.common`.
"""
