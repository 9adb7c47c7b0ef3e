"""Train or evaluate a hierarchical CLIP trainer: ``python train.py ...`` as in CoOp/MaPLe.

The command line lives in :mod:`hgclip.cli.train` (also installed as ``hgclip-train``);
this file keeps the ecosystem's ``python train.py`` and ``torchrun ... train.py`` working.
"""
import runpy

if __name__ == "__main__":
    runpy.run_module("hgclip.cli.train", run_name="__main__", alter_sys=True)
