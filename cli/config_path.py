"""Print where a config file is inside the installed package, for commands that take a path.

    hgclip-config HGCLIP paper           # <site-packages>/hgclip/configs/trainers/HGCLIP/vit_b16_ep50_paper.yaml
    hgclip-config HierCoOp tiny          # a plugin name works too: the file of CoOp's "tiny" config
    hgclip-config HGCLIP                 # every role and config name of the trainer, with its file
    hgclip-config --dataset hiershapes   # <site-packages>/hgclip/configs/datasets/hiershapes.yaml
    hgclip-config                        # the package's configs/ folder

A trainer's configs are ``configs/trainers/<TableName>/<name>.yaml`` of the package (the class that
declares its ``CONFIGS``, :mod:`hgclip.engine.named_configs`). In a CoOp/MaPLe checkout, whose
``train.py`` takes paths: ``python train.py --trainer HGCLIP --config-file $(hgclip-config HGCLIP paper) ...``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from typing import Optional, Sequence

from ..common.errors import InputError
from ..common.paths import config_dir
from ..engine.named_configs import dataset_config, list_trainer_configs, trainer_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trainer", nargs="?", default="", help="a registered trainer (table or plugin name)")
    parser.add_argument("name", nargs="?", default="", help="a role (tiny, base2new, paper) or a config name")
    parser.add_argument("--dataset", default="", metavar="NAME", help="a dataset config name instead")
    return parser


def lookup(ns: argparse.Namespace) -> str:
    """What to print: one path, or ``role-or-name<TAB>path`` lines for a trainer without a name."""
    if ns.dataset:
        if ns.trainer:
            raise InputError("--dataset takes no trainer")
        return dataset_config(ns.dataset)
    if not ns.trainer:
        return config_dir()
    if ns.name:
        return trainer_config(ns.trainer, ns.name)
    return "\n".join(f"{name}\t{path}" for name, path in list_trainer_configs(ns.trainer).items())


def main(argv: Optional[Sequence[str]] = None) -> str:
    ns = build_parser().parse_args(argv)
    # registering the trainers (table and plugin names) prints nothing that belongs on stdout, which a $(...) takes
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from .. import project  # noqa: F401
    try:
        text = lookup(ns)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(text)
    return text


if __name__ == "__main__":
    main()
