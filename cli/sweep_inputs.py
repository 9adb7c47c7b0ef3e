"""Whether the sweep's finished runs were made on the inputs their commands would run on now.

A run's recorded config names its files; its ``inputs.json`` holds the fingerprints of their contents (the
hierarchy, the training and test listings, the CLIP weights; an evaluation also the sha256 of every model file
it loaded). compare asks ``train.py --check-inputs`` once per run; a sweep may reuse thousands, so one
process (``python -m hgclip.cli.sweep_inputs``, fed the runs' ``train.py`` arguments as JSON) checks them all
with the same code: the import of torch and the trainers is paid once, and the sweep's own process neither
seeds torch's generators nor builds a model on a GPU that its local jobs need.

The rule is compare's: a finished run made on other inputs is not reused, and the sweep stops naming it
(delete that run or choose another OUTPUT).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any, Optional, Sequence

MARKER = "hgclip-sweep-inputs: "  # the answer's line on stdout, whatever building the trainers printed
OVERWRITE_HINT = "use a new --output-dir, or pass --overwrite to start it afresh"
DELETE_HINT = "delete that run or choose another OUTPUT"


def stale_runs(runs: Sequence[Any]) -> list[str]:
    """One line per finished run (a :class:`hgclip.cli.sweep_plan.Run`) that must not be reused, saying what
    differs; an empty list when every run's inputs are those of its command."""
    if not runs:
        return []
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    result = subprocess.run([sys.executable, "-m", __name__], input=json.dumps([list(run.argv) for run in runs]),
                            capture_output=True, text=True, env=env)
    answers = [line[len(MARKER):] for line in result.stdout.splitlines() if line.startswith(MARKER)]
    if result.returncode != 0 or not answers:
        last = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "")
        raise SystemExit(f"checking the inputs of {len(runs)} finished run(s) failed "
                         f"(exit code {result.returncode}): {last.strip()}")
    reasons = json.loads(answers[-1])
    return [f"[{run.label}] finished run not reused: {reason}" for run, reason in zip(runs, reasons) if reason]


def _changed_models(trainer: Any, args: Any) -> Optional[str]:
    """An evaluation whose recorded model files (``inputs.json``'s ``model``) are no longer those in --model-dir."""
    from ..runtime.run_dir import INPUTS_FILE, file_digest, read_recorded_inputs

    recorded = (read_recorded_inputs(args.output_dir) or {}).get("model")
    if not args.eval_only or not args.model_dir or not isinstance(recorded, dict):
        return None
    now = trainer.checkpointer.loadable_files(args.model_dir, args.load_epoch)
    changed = [name for name, digest in recorded.items() if name not in now or file_digest(now[name]) != digest]
    if not changed:
        return None
    return (f"{os.path.join(args.output_dir, INPUTS_FILE)}: this directory evaluated another model: "
            f"{', '.join(changed)} in {args.model_dir} changed since; {DELETE_HINT}")


def check_run(argv: Sequence[str]) -> Optional[str]:
    """What ``train.py --check-inputs argv`` would refuse (as one line), also comparing an evaluation's model
    files; None when the run's recorded config and inputs are this command's."""
    from ..common.errors import MAX_ERROR_LINE, is_input_error, is_storage_error, one_line
    from . import train

    args = train.build_parser().parse_args(list(argv))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # building a trainer talks; stdout carries the answer
            cfg = train.setup_cfg(args)
            train.validate(cfg, args)
            if cfg.SEED >= 0:
                train.set_random_seed(cfg.SEED)  # as train.py does: the few-shot draw depends on it
            trainer = train.check_inputs(cfg)
            return _changed_models(trainer, args)
    except Exception as error:  # noqa: BLE001  (every reason not to reuse the run becomes its line)
        text = one_line(error, limit=MAX_ERROR_LINE)
        if not (is_input_error(error) or is_storage_error(error)):
            text = f"checking its inputs failed: {text}"
        return text.replace(OVERWRITE_HINT, DELETE_HINT)


def main() -> None:
    """Read a JSON list of ``train.py`` argument lists on stdin; print one line: the list of their reasons."""
    from . import train

    train.configure_cpu_threads()
    runs = json.load(sys.stdin)
    reasons = [check_run(argv) for argv in runs]
    print(MARKER + json.dumps(reasons), flush=True)


if __name__ == "__main__":
    main()
