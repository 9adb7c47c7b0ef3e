"""May a finished run be reused? The one rule of every front-end of the grid runner and of the sweep.

A finished run (``results.json``, plus the checkpoint of a trainer that trains) is reused only when its
results.json reports the same class subset, shots, seed and backbone, its recorded config.yaml agrees on every
result-changing key, and its inputs.json on the contents of the hierarchy, images, CLIP weights and model
(the code of ``train.py --check-inputs``, which writes nothing). Otherwise the caller stops with one line: the user
decides whether to delete the run or choose another output.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..engine.run_directory import MODEL_DESCRIPTION
from ..evaluation.aggregate import load_results
from ..registry import trainer_class
from ..runtime.run_dir import RunDirError, check_recorded_config, results_path, run_finished
from .grid import StaleRunError
from .sweep_inputs import stale_runs
from .sweep_plan import Run


def expected_config(args: Sequence[str]) -> Any:
    """The config ``train.py args`` would run with (the output path does not encode it)."""
    from . import train

    return train.setup_cfg(train.build_parser().parse_args(list(args)))


def expected_fields(cfg: Any) -> dict:
    """What results.json must say for a run made with ``cfg``."""
    return {"subsample": cfg.DATASET.SUBSAMPLE_CLASSES, "num_shots": cfg.DATASET.NUM_SHOTS, "seed": cfg.SEED,
            "backbone": cfg.MODEL.BACKBONE.NAME}


def check_protocol(results: dict, run_dir: str, cfg: Any, trainer: str) -> None:
    """Refuse to reuse a finished run made with another protocol, backbone or config (a variant's keys included)."""
    for key, value in expected_fields(cfg).items():
        if key in results and results[key] != value:
            raise StaleRunError(f"{results_path(run_dir)}: {key} is {results[key]!r}, this "
                                f"comparison needs {value!r}; delete that run or choose another OUTPUT")
    try:
        check_recorded_config(run_dir, cfg, trainer_class(trainer).CFG_KEY)
    except RunDirError as error:
        raise StaleRunError(f"{error}".replace("use a new --output-dir, or pass --overwrite to start it afresh",
                                               "delete that run or choose another OUTPUT")) from None


def check_reusable(runs: Sequence[Run]) -> None:
    """Stop (:class:`StaleRunError`, one line per run) unless every finished run of ``runs`` was made with its planned
    config and on the inputs its command would read now; one process checks all inputs
    (:mod:`hgclip.cli.sweep_inputs`, the code of ``train.py --check-inputs``).

    An evaluation of a saved model reports the model's shots, seed and classes (``MODEL_DESCRIPTION``), not its
    own config's: those are the model's, whose files the inputs check compares."""
    finished = [run for run in runs if run_finished(run.output_dir, run.trains)]
    for run in finished:
        results = load_results(run.output_dir)
        if "--model-dir" in run.argv:
            results = {key: value for key, value in results.items() if key not in MODEL_DESCRIPTION}
        check_protocol(results, run.output_dir, expected_config(run.argv), run.trainer)
    stale = stale_runs(finished)
    if stale:
        raise StaleRunError("\n".join(stale))
