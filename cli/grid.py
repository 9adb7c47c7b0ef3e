"""The vocabulary of a grid of runs, shared by the sweep and its front-ends (compare, base2new, xd/dg).

A *cell* is a registered trainer or ``TRAINER+VARIANT`` (the trainer with the config keys of
``<VARIANT>.yaml``); this module says where variants are found, which config file a cell uses, where a run's
directory is, and the column order of the tables. :mod:`hgclip.cli.sweep_plan` turns a grid into jobs with it.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from typing import Any, Callable, Optional, Sequence

from .. import project  # noqa: F401  (registers the trainers under their table names)
from ..common.config_io import config_file_options
from ..common.errors import EXIT_BAD_INPUT, InputError
from ..common.paths import config_dir
from ..engine.named_configs import trainer_config
from ..registry import list_trainers

PAPER_ORDER = tuple(list_trainers())  # the registry's table order (TABLE_ORDER of each trainer)
EMBEDDED = "hiershapes"
EMBEDDED_SHOTS = 16
CONFIG_DIR = config_dir()  # the package's configs/: datasets/, variants/
VARIANT_DIR = osp.join(CONFIG_DIR, "variants")  # <NAME>.yaml: config keys a TRAINER+NAME cell adds to the trainer's
SOURCE = "imagenet"  # xd/dg: the dataset trained on
DG_TARGETS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")


class Refusal(SystemExit):
    """Bad input to the comparison (arguments, a variant, a run in the way): one line, exit code 2, as train.py's.

    ``main`` raises it (tests match its text); the command line prints ``error: <message>`` (:func:`console`)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_BAD_INPUT)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StaleRunError(Refusal):
    """A finished run in the way was made with another protocol: the user decides, so the script stops."""



def available_datasets() -> list[str]:
    folder = osp.join(CONFIG_DIR, "datasets")
    return sorted(osp.splitext(f)[0] for f in os.listdir(folder) if f.endswith(".yaml"))



#: Keys a variant may not set: the comparison's protocol, the same for every column (its caption says them).
PROTOCOL_KEYS = ("DATASET.NAME", "DATASET.ROOT", "DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES", "SEED", "OUTPUT_DIR",
                 "TRAINER.NAME")



def variant_dirs(extra: Sequence[str] = ()) -> list[str]:
    """Where ``TRAINER+NAME`` looks for ``NAME.yaml``: ``extra`` (``--variants``), ``HGCLIP_VARIANTS``, the package's."""
    from_env = [d for d in os.environ.get("HGCLIP_VARIANTS", "").split(os.pathsep) if d]
    return [osp.abspath(d) for d in (*extra, *from_env)] + [VARIANT_DIR]


def available_variants(extra: Sequence[str] = ()) -> dict[str, str]:
    """Variant name -> its YAML file; a name found in several folders is taken from the first (see :func:`variant_dirs`)."""
    found: dict[str, str] = {}
    for folder in variant_dirs(extra):
        if not osp.isdir(folder):
            if folder != VARIANT_DIR:
                raise Refusal(f"--variants / HGCLIP_VARIANTS: {folder} is not a folder of variant YAML files")
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".yaml"):
                found.setdefault(osp.splitext(name)[0], osp.join(folder, name))
    return found


def split_cell(cell: str) -> tuple[str, str]:
    """``"MaPLe+ProTeCt"`` -> ``("MaPLe", "ProTeCt")``; a plain trainer -> ``(trainer, "")``."""
    trainer, _, variant = cell.partition("+")
    return trainer, variant


def variant_options(variant: str, variants: Optional[dict[str, str]] = None) -> list[str]:
    """The ``KEY VALUE`` options of the variant's YAML file (none for ``""``), refusing protocol keys in one line."""
    if not variant:
        return []
    variants = available_variants() if variants is None else variants
    path = variants[variant]
    try:
        options = config_file_options(path)
    except InputError as error:
        raise Refusal(str(error)) from None
    protocol = [key for key in options[::2] if key in PROTOCOL_KEYS]
    if protocol:
        raise Refusal(f"{path}: sets {', '.join(protocol)}, which the comparison fixes for every column "
                         "(--shots, the dataset, the seeds); remove it from the variant")
    return options



def paper_order(names: Sequence[str]) -> list[str]:
    """The paper's column order (a ``TRAINER+VARIANT`` cell right after its trainer); others keep their order."""
    position = {name: i for i, name in enumerate(PAPER_ORDER)}
    known = [n for n in names if split_cell(n)[0] in position]
    known.sort(key=lambda n: (position[split_cell(n)[0]], split_cell(n)[1] != "", names.index(n)))
    return known + [n for n in names if split_cell(n)[0] not in position]



def config_for(cell: str, dataset: str, environ: Optional[dict] = None) -> str:
    """The trainer's config file for ``dataset`` (``CFG_<TRAINER>`` overrides); exits if it does not exist.

    A ``TRAINER+VARIANT`` cell uses its trainer's config (the variant adds keys on top).
    """
    trainer = split_cell(cell)[0]
    environ = os.environ if environ is None else environ
    variable = next((v for v in (f"CFG_{trainer}", f"CFG_{trainer.upper()}") if environ.get(v)), None)
    if variable:
        name, where = environ[variable], f"{variable}={environ[variable]}"
    elif dataset == EMBEDDED:
        name, where = "tiny", "the embedded default's config"
    else:
        name, where = "paper", "the paper-protocol config"
    try:
        return trainer_config(trainer, name)
    except InputError as error:
        raise Refusal(f"{where}: {error} (set CFG_{trainer}=<config.yaml> to choose one)") from None



def run_dir_for(output: str, dataset: str, cell: str, config: str, seed: int) -> str:
    cfg_name = osp.splitext(osp.basename(config))[0]
    return osp.join(output, "compare", dataset, cell, cfg_name, f"seed{seed}")


def console(main: Callable[[Optional[Sequence[str]]], Any], argv: Optional[Sequence[str]] = None) -> int:
    """A front-end's command line: a :class:`Refusal` is ``error: <message>`` on stderr and exit code 2."""
    try:
        main(argv)
    except Refusal as refusal:
        print(f"error: {refusal.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
