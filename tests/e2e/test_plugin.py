"""The plugin route: --trainer HGCLIP from inside a directory that mimics a CoOp/MaPLe/PromptSRC checkout.

The checkout has what the real ones have and what used to break the plugin:
* its own ``trainers/`` package registering ``CoOp`` (so importing ours must not re-register ``CoOp``);
* its own ``datasets/`` package with a flat Dassl dataset (no hierarchy: one is attached by class name);
* a vendored ``clip/`` whose ``CLIP.__init__`` needs MaPLe's extra ``design_details`` argument and whose
  ``tokenize`` gives garbage (so using it instead of openai-clip fails or changes results);
* a MaPLe-style ``train.py`` that imports ``dassl`` directly, plus the two documented lines.

With the real Dassl installed the checkout runs on it. Without, a stand-in ``dassl`` package in the
checkout re-exports the built-in engine under Dassl's module names, plus a test-only ``TrainerX`` for the
checkout's CoOp (``tests/dassl_standin.py``: the built-in engine has no trainer base class), so the route is
tested everywhere.
"""
from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from run_helpers import REPO

REAL_DASSL = importlib.util.find_spec("dassl") is not None

CHECKOUT_FILES = {
    "train.py": '''
        """A CoOp/MaPLe-style train.py: the checkout's imports, its extend_cfg, and the two plugin lines."""
        import argparse

        from dassl.config import get_cfg_default
        from dassl.engine import build_trainer
        from dassl.utils import set_random_seed, setup_logger

        import datasets.toy  # noqa: F401  (the checkout's own datasets)
        import trainers.coop  # noqa: F401  (the checkout's own trainers)
        import hgclip.plugin


        def extend_cfg(cfg):
            from yacs.config import CfgNode as CN

            cfg.TRAINER.COOP = CN()
            cfg.TRAINER.COOP.N_CTX = 16
            cfg.TRAINER.COOP.CSC = False
            cfg.TRAINER.COOP.CTX_INIT = ""
            cfg.TRAINER.COOP.PREC = "fp16"
            cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
            cfg.DATASET.SUBSAMPLE_CLASSES = "all"
            hgclip.plugin.extend_cfg(cfg)


        def main():
            parser = argparse.ArgumentParser()
            for flag in ("--root", "--output-dir", "--config-file", "--dataset-config-file", "--trainer", "--model-dir"):
                parser.add_argument(flag, type=str, default="")
            parser.add_argument("--seed", type=int, default=-1)
            parser.add_argument("--eval-only", action="store_true")
            parser.add_argument("opts", default=None, nargs=argparse.REMAINDER)
            args = parser.parse_args()
            cfg = get_cfg_default()
            extend_cfg(cfg)
            if args.dataset_config_file:
                cfg.merge_from_file(args.dataset_config_file)
            if args.config_file:
                cfg.merge_from_file(args.config_file)
            cfg.DATASET.ROOT, cfg.OUTPUT_DIR, cfg.SEED, cfg.TRAINER.NAME = args.root, args.output_dir, args.seed, args.trainer
            cfg.merge_from_list(args.opts)
            cfg.freeze()
            if cfg.SEED >= 0:
                set_random_seed(cfg.SEED)
            setup_logger(cfg.OUTPUT_DIR)
            trainer = build_trainer(cfg)
            if args.eval_only:
                trainer.load_model(args.model_dir)
                trainer.test()
            else:
                trainer.train()


        if __name__ == "__main__":
            main()
    ''',
    "clip/__init__.py": "from .clip import *  # noqa: F401,F403\n",
    "clip/clip.py": '''
        """A vendored CLIP as MaPLe ships one: its CLIP needs design_details; tokenize and load are not openai's."""
        from . import model  # noqa: F401

        __all__ = ["available_models", "load", "tokenize"]


        def available_models():
            return ["ViT-B/16"]


        def tokenize(texts, context_length=77, truncate=False):
            raise RuntimeError("the checkout's vendored clip.tokenize was called")


        def load(name, device="cpu", jit=False):
            raise RuntimeError("the checkout's vendored clip.load was called")
    ''',
    "clip/model.py": '''
        class CLIP:
            def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                         context_length, vocab_size, transformer_width, transformer_heads, transformer_layers,
                         design_details):
                raise RuntimeError("the checkout's vendored CLIP was built")
    ''',
    "trainers/__init__.py": "",
    "trainers/coop.py": '''
        """The checkout's own CoOp (here: a linear probe on pixels), registered under the name CoOp."""
        import torch
        from torch import nn

        from clip import clip  # noqa: F401  (as the real trainers do: the vendored clip is imported first)
        from dassl.engine import TRAINER_REGISTRY, TrainerX
        from dassl.optim import build_lr_scheduler, build_optimizer


        @TRAINER_REGISTRY.register()
        class CoOp(TrainerX):
            def build_model(self):
                self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, self.num_classes)).to(self.device)
                self.optim = build_optimizer(self.model, self.cfg.OPTIM)
                self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
                self.register_model("prompt_learner", self.model, self.optim, self.sched)

            def forward_backward(self, batch):
                images, labels = batch["img"].to(self.device), batch["label"].to(self.device)
                loss = nn.functional.cross_entropy(self.model(images), labels)
                self.model_backward_and_update(loss)
                if (self.batch_idx + 1) == self.num_batches:
                    self.update_lr()
                return {"loss": loss.item()}

            def parse_batch_train(self, batch):
                return batch["img"].to(self.device), batch["label"].to(self.device)
    ''',
    "datasets/__init__.py": "",
    "datasets/toy.py": '''
        """The checkout's own flat dataset: <root>/toy/{train,test}/<class>/*.png, labels in sorted class order."""
        import os

        from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum


        @DATASET_REGISTRY.register()
        class ToyShapes(DatasetBase):
            def __init__(self, cfg):
                root = os.path.join(cfg.DATASET.ROOT, "toy")
                classes = sorted(os.listdir(os.path.join(root, "train")))

                def read(split):
                    return [Datum(impath=os.path.join(root, split, c, f), label=i, classname=c)
                            for i, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(root, split, c)))]

                super().__init__(train_x=read("train"), test=read("test"))
    ''',
    "configs/datasets/toy.yaml": 'DATASET:\n  NAME: "ToyShapes"\n',
    "configs/trainers/CoOp/linear.yaml": textwrap.dedent('''
        DATALOADER: {TRAIN_X: {BATCH_SIZE: 8}, TEST: {BATCH_SIZE: 64}, NUM_WORKERS: 0}
        INPUT:
          SIZE: (32, 32)
          TRANSFORMS: ["normalize"]
        OPTIM: {NAME: "sgd", LR: 0.01, MAX_EPOCH: 1, LR_SCHEDULER: "cosine"}
        TRAIN: {PRINT_FREQ: 100}
    '''),
}

STANDIN_DASSL = {
    "dassl/__init__.py": '__version__ = "0.6.3 (stand-in: hgclip.runtime.builtin under Dassl\'s module names)"\n',
    "dassl/config/__init__.py": "from hgclip.runtime.builtin.config import CfgNode, get_cfg_default  # noqa: F401\n",
    "dassl/data/__init__.py": "from hgclip.runtime.builtin.data import DatasetWrapper  # noqa: F401\n",
    "dassl/data/datasets/__init__.py":
        "from hgclip.runtime.builtin.data import DATASET_REGISTRY, DatasetBase, Datum, build_dataset  # noqa\n",
    "dassl/data/transforms/__init__.py": "from hgclip.runtime.builtin.data import build_transform  # noqa: F401\n",
    "dassl/engine/__init__.py": ("from hgclip.runtime.builtin.engine import *  # noqa: F401,F403\n"
                                 "from .trainer import TrainerX  # noqa: F401\n"),
    "dassl/engine/trainer.py": (Path(__file__).parents[1] / "dassl_standin.py").read_text(),
    "dassl/evaluation/__init__.py": "from hgclip.runtime.builtin.evaluation import *  # noqa: F401,F403\n",
    "dassl/optim/__init__.py": "from hgclip.runtime.builtin.optim import build_lr_scheduler, build_optimizer  # noqa: F401\n",
    "dassl/utils/__init__.py": "from hgclip.runtime.builtin.utils import *  # noqa: F401,F403\n",
}

TOY_HIERARCHY = """# leaves spelled as the checkout's folders are, with underscores
levels: family > object
round > red_circle
round > blue_circle
angular > red_square
angular > blue_square
"""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, hiershapes_root):
    """The mimic checkout, with its flat dataset made of HierShapes images."""
    root = tmp_path_factory.mktemp("checkout")
    files = dict(CHECKOUT_FILES)
    if not REAL_DASSL:
        files.update(STANDIN_DASSL)
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "hierarchy.txt").write_text(TOY_HIERARCHY)
    split = json.loads(open(osp.join(hiershapes_root, "hiershapes", "split.json")).read())
    for name in ("red circle", "blue circle", "red square", "blue square"):
        for part, rows in (("train", split["train"]), ("test", split["test"])):
            target = root / "data" / "toy" / part / name.replace(" ", "_")
            target.mkdir(parents=True, exist_ok=True)
            for relpath, _, _classname in [r for r in rows if r[2] == name][:4]:
                shutil.copy(osp.join(hiershapes_root, "hiershapes", "images", relpath), target / osp.basename(relpath))
    return root


def checkout_env() -> dict:
    """The test's environment without an engine choice; its PYTHONPATH (when set) picks the hgclip under test."""
    env = {k: v for k, v in os.environ.items() if k != "HGCLIP_ENGINE"}
    env["HGCLIP_NUM_THREADS"] = "1"
    return env


def run_in(checkout, *args: str) -> str:
    result = subprocess.run([sys.executable, "train.py", *args], cwd=checkout, env=checkout_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


FAST = ("MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "TRAIN.PRINT_FREQ", "100")


def test_hgclip_runs_in_the_checkout_on_hiershapes(checkout, hiershapes_root, tmp_path):
    out = run_in(checkout, "--root", hiershapes_root, "--seed", "1", "--trainer", "HGCLIP", "--output-dir",
                 str(tmp_path / "hg"), "--dataset-config-file", osp.join(REPO, "configs", "datasets", "hiershapes.yaml"),
                 "--config-file", osp.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml"),
                 "DATASET.NUM_SHOTS", "2", *FAST)
    assert "Engine: Dassl.pytorch" in out
    results = json.loads((tmp_path / "hg" / "results.json").read_text())
    assert results["trainer"] == "HGCLIP" and results["levels"] == ["family", "shape", "object"]
    assert results["num_samples"] == 960 and (tmp_path / "hg" / "prototypes.pt").is_file()


def test_hgclip_runs_on_the_checkouts_flat_dataset_with_a_hierarchy_by_class_name(checkout, tmp_path):
    out = run_in(checkout, "--root", str(checkout / "data"), "--seed", "1", "--trainer", "HGCLIP", "--output-dir",
                 str(tmp_path / "toy"), "--dataset-config-file", "configs/datasets/toy.yaml",
                 "--config-file", osp.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml"),
                 "DATASET.HIERARCHY_FILE", str(checkout / "hierarchy.txt"), *FAST)
    assert "ToyShapes: hierarchy from" in out
    results = json.loads((tmp_path / "toy" / "results.json").read_text())
    assert results["levels"] == ["family", "object"] and results["num_samples"] == 16
    assert results["per_level"]["family"]["num_classes"] == 2 and results["per_level"]["object"]["num_classes"] == 4


def test_the_checkouts_own_trainer_still_works_beside_ours(checkout, tmp_path):
    out = run_in(checkout, "--root", str(checkout / "data"), "--seed", "1", "--trainer", "CoOp", "--output-dir",
                 str(tmp_path / "coop"), "--dataset-config-file", "configs/datasets/toy.yaml",
                 "--config-file", "configs/trainers/CoOp/linear.yaml")
    assert "* accuracy:" in out and not (tmp_path / "coop" / "results.json").exists()  # Dassl's own evaluator


def test_a_flat_class_that_is_no_leaf_is_one_clear_line(checkout, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(TOY_HIERARCHY.replace("blue_square", "green_square"))
    result = subprocess.run([sys.executable, "train.py", "--root", str(checkout / "data"), "--trainer", "HierCoOp",
                             "--output-dir", str(tmp_path / "x"), "--dataset-config-file", "configs/datasets/toy.yaml",
                             "--config-file", osp.join(REPO, "configs", "trainers", "CoOp", "tiny_hiershapes.yaml"),
                             "DATASET.HIERARCHY_FILE", str(bad), *FAST],
                            cwd=checkout, env=checkout_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert ("1 of the dataset's 4 classes are not leaves: 'blue_square'; leaves that match no class: 'green_square'"
            in result.stderr)


def test_a_checkouts_dataset_gets_the_hierarchy_shipped_for_its_name():
    """CoOp's OxfordPets (flat, labels in its own order) gets datasets/hierarchies/oxford_pets.txt by class name."""
    import types

    from dataset_fixtures import raw_leaves

    from hgclip.datasets.attach import dataset_hierarchy
    from hgclip.project import get_cfg

    leaves = raw_leaves("oxford_pets.txt")
    names = list(reversed(leaves))[:5]  # another label order, and a subset (as a base/new split gives)
    checkout_dataset = types.SimpleNamespace(lab2cname=dict(enumerate(name.lower() for name in names)))
    cfg = get_cfg()
    cfg.DATASET.NAME = "OxfordPets"
    hierarchy = dataset_hierarchy(checkout_dataset, cfg)
    assert hierarchy.level_names == ("species", "breed")
    assert [name.casefold() for name in hierarchy.leaf_names] == [n.replace("_", " ").casefold() for n in names]
    cfg.DATASET.NAME = "NoSuchDataset"
    assert dataset_hierarchy(checkout_dataset, cfg).level_names == ("class",)  # no hierarchy: one flat level


def run_checkout(checkout, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=checkout, env=checkout_env(), capture_output=True,
                          text=True, timeout=600)


def test_the_run_directory_guarantees_hold_from_the_checkouts_train_py(checkout, tmp_path):
    """Issue "one product on every route", items 1 and 3: the checkout's train.py (build_trainer, then train(), or
    load_model + test()) has no lock or config check of its own; the trainer's run directory owner gives both.
    The checkout has no error handling: its traceback ends in our one-line message."""
    from hgclip.runtime.run_dir import RunLock

    out = tmp_path / "toy"
    args = ["--root", str(checkout / "data"), "--seed", "1", "--trainer", "HGCLIP", "--output-dir", str(out),
            "--dataset-config-file", "configs/datasets/toy.yaml",
            "--config-file", osp.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml"),
            "DATASET.HIERARCHY_FILE", str(checkout / "hierarchy.txt"), *FAST]

    def refused(result: subprocess.CompletedProcess) -> str:
        assert result.returncode != 0, result.stdout[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("hgclip.runtime.run_dir.RunDirError: "), result.stderr[-3000:]
        return last

    held = RunLock(str(out)).acquire()  # a second process on a busy directory (this test holds it)
    try:
        line = refused(run_checkout(checkout, *args))
    finally:
        held.release()
    assert f"{out} is in use by process {os.getpid()}" in line and "wait for it to finish" in line
    assert not (out / "results.json").exists()

    run_in(checkout, *args)
    line = refused(run_checkout(checkout, *args, "OPTIM.MAX_EPOCH", "2"))  # resumed with other settings
    assert "this directory was run with another config: OPTIM.MAX_EPOCH (1 -> 2)" in line, line
    line = refused(run_checkout(checkout, "--eval-only", "--model-dir", str(out), *args[:-len(FAST)], *FAST,
                                "TRAINER.HGCLIP.ATTENTION.ALPHA", "0.5"))
    assert "the model was trained with TRAINER.HGCLIP.ATTENTION.ALPHA 0.01, this evaluation sets 0.5" in line, line
    out_text = run_in(checkout, *args, "OPTIM.MAX_EPOCH", "2", "OVERWRITE_OUTPUT_DIR", "True")  # the documented way out
    assert "--overwrite: removed" in out_text and (out / "results.json").is_file()
