"""What an output directory holds once a run has finished (one definition for every script)."""
from __future__ import annotations

import os.path as osp

RESULTS_FILE = "results.json"
LEARNER_POINTER = osp.join("prompt_learner", "checkpoint")  # trainers.base.LEARNER_NAME + Dassl's pointer file


def run_finished(run_dir: str, has_parameters: bool = True) -> bool:
    """True when ``run_dir`` has its ``results.json`` and, for a trainer with parameters, its learner checkpoint."""
    if not osp.isfile(osp.join(run_dir, RESULTS_FILE)):
        return False
    return not has_parameters or osp.isfile(osp.join(run_dir, LEARNER_POINTER))
