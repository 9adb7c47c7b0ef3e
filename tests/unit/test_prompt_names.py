"""Class names in prompts: every trainer writes them as the official codes do (only '_' -> space).

CoOp, CoCoOp, MaPLe, KgCoOp, PromptSRC, zero-shot CLIP and the official HGCLIP code put
``classname.replace("_", " ")`` into their prompts, so "707-320" keeps its hyphen (it tokenizes
differently from "707 320"). ``TRAINER.<NAME>.NAME_STYLE normalized`` gives the normalised names
instead; nodes are identified by the normalised name in both styles.
"""
from __future__ import annotations

import glob
import os.path as osp

import pytest
from dataset_fixtures import make_cfg as dataset_cfg
from dataset_fixtures import raw_leaves, write_coop_split, write_imagenet_family
from trainer_helpers import REPO, make_cfg

from hgclip.backbones.clip_loader import load_clip
from hgclip.common.errors import InputError
from hgclip.datasets.coop_datasets import DescribableTextures, OxfordFlowers
from hgclip.hierarchy import Hierarchy, HierarchyError, load_hierarchy, normalize_classname, official_prompt_name
from hgclip.models import handcrafted, text_prompts
from hgclip.registry import list_trainers, trainer_class
from hgclip.runtime.dassl_api import build_dataset

HIERARCHIES = sorted(glob.glob(osp.join(REPO, "datasets", "hierarchies", "*.txt")))
#: FGVC-Aircraft's hyphenated variants (variants.txt), with a '_' name to show both rules at once
AIRCRAFT = Hierarchy(("maker", "family", "variant"), [
    ("Boeing", "Boeing 707", "707-320"),
    ("Boeing", "Boeing 727", "727-200"),
    ("Airbus", "A300", "A300B4"),
    ("McDonnell_Douglas", "DC-10", "DC-10"),
])


def official_rule(raw_name: str) -> str:
    """What the official codes write into a prompt for a class name as the data spells it."""
    return raw_name.replace("_", " ")


@pytest.mark.parametrize("path", HIERARCHIES, ids=osp.basename)
def test_every_shipped_hierarchy_prompts_with_the_official_rule(path):
    hierarchy = load_hierarchy(path)
    official = hierarchy.prompt_names("official")
    assert official == [official_rule(name) for name in hierarchy.raw_node_names]
    assert hierarchy.prompt_names("normalized") == list(hierarchy.node_names)
    assert [normalize_classname(name) for name in official] == list(hierarchy.node_names)  # same nodes


def test_the_datasets_with_hyphens_keep_them_in_official_prompts():
    hyphenated = {}
    for path in HIERARCHIES:
        hierarchy = load_hierarchy(path)
        names = [n for n in hierarchy.prompt_names("official") if "-" in n]
        if names:
            hyphenated[osp.basename(path)] = names
    for name in ("stanford_cars.txt", "oxford_flowers.txt", "dtd.txt"):
        assert name in hyphenated, sorted(hyphenated)
    assert "hard-leaved pocket orchid" in hyphenated["oxford_flowers.txt"]


def test_official_prompt_name_is_the_official_rule():
    assert official_prompt_name("large_man-made_outdoor_things") == "large man-made outdoor things"
    assert official_prompt_name("707-320") == "707-320"


class _Recorder:
    """Records every string given to CLIP's tokenizer (the prompt text, as the models build it)."""

    def __init__(self, monkeypatch):
        self.prompts: list[str] = []
        for module in (text_prompts, handcrafted):
            real = module.clip.tokenize

            def tokenize(texts, *args, _real=real, **kwargs):
                self.prompts.extend([texts] if isinstance(texts, str) else list(texts))
                return _real(texts, *args, **kwargs)

            monkeypatch.setattr(module.clip, "tokenize", tokenize)


def build_prompts(trainer: str, hierarchy: Hierarchy, tmp_path, monkeypatch, *opts: str) -> list[str]:
    """The prompt strings ``trainer`` builds for ``hierarchy`` (its own model-building code, a random tiny CLIP)."""
    cls = trainer_class(trainer)
    cfg = make_cfg(trainer, str(tmp_path), str(tmp_path / "out"), *opts)
    instance = cls.__new__(cls)
    instance.cfg = cfg
    recorder = _Recorder(monkeypatch)
    instance.build_clip_model(load_clip(cfg.MODEL.BACKBONE), hierarchy)  # tiny-random
    return recorder.prompts


def class_names_in(prompts: list[str], names: list[str]) -> list[str]:
    """Which of ``names`` end a prompt (``... <name>.``) or appear in it."""
    return [name for name in names if any(p.rstrip(".").endswith(name) or f" {name} " in p for p in prompts)]


@pytest.mark.parametrize("trainer", list_trainers())
def test_each_trainer_prompts_with_the_official_names_by_default(trainer, tmp_path, monkeypatch):
    prompts = build_prompts(trainer, AIRCRAFT, tmp_path, monkeypatch)
    official = [official_rule(name) for name in AIRCRAFT.raw_node_names]
    assert class_names_in(prompts, official) == official, prompts
    assert not [p for p in prompts if "707 320" in p or "DC 10" in p or "McDonnell_Douglas" in p], prompts


@pytest.mark.parametrize("trainer", list_trainers())
def test_each_trainer_keeps_the_normalized_style_as_an_option(trainer, tmp_path, monkeypatch):
    key = f"TRAINER.{trainer_class(trainer).CFG_KEY}.NAME_STYLE"
    prompts = build_prompts(trainer, AIRCRAFT, tmp_path, monkeypatch, key, "normalized")
    normalized = list(AIRCRAFT.node_names)
    assert class_names_in(prompts, normalized) == normalized, prompts
    assert not [p for p in prompts if "707-320" in p or "DC-10" in p], prompts


@pytest.mark.parametrize("trainer", ["CoOp", "ZeroshotCLIP"])
def test_an_unknown_name_style_is_one_line_naming_the_key(trainer, tmp_path, monkeypatch):
    key = f"TRAINER.{trainer_class(trainer).CFG_KEY}.NAME_STYLE"
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        build_prompts(trainer, AIRCRAFT, tmp_path, monkeypatch, key, "spaces")


# ---------------------------------------------------------------------- the data's spelling
def _flowers(root, lotus: str):
    names = [lotus if name == "lotus lotus" else name for name in raw_leaves(OxfordFlowers.hierarchy_file)]
    write_coop_split(root, OxfordFlowers, classnames=names)
    return build_dataset(dataset_cfg("OxfordFlowers", root)), names


@pytest.mark.parametrize("lotus", ["lotus lotus", "lotus"])
def test_flowers_class_78_is_accepted_in_both_published_spellings(tmp_path, lotus):
    dataset, names = _flowers(tmp_path, lotus)
    hierarchy = dataset.hierarchy
    assert hierarchy.num_leaves == 102
    label = names.index(lotus)
    assert label == 77 and hierarchy.leaf_names[label] == lotus  # CoOp's label 77 = class 78
    assert hierarchy.prompt_names("official")[hierarchy.level_offsets[-1] + label] == lotus  # the data's spelling
    assert hierarchy.paths[label] == ("Nelumbonaceae", lotus)
    assert sum(item.label == label for item in dataset.train_x) == 2


def test_an_unknown_spelling_is_still_refused(tmp_path):
    with pytest.raises(ValueError, match="lotus flower"):
        _flowers(tmp_path, "lotus flower")


def test_coop_leaves_take_the_split_files_spelling(tmp_path):
    """A split that writes a leaf with '_' or another separator than the hierarchy file prompts as the split does."""
    names = [name.replace(" ", "_") for name in raw_leaves(DescribableTextures.hierarchy_file)]
    write_coop_split(tmp_path, DescribableTextures, classnames=names)
    hierarchy = build_dataset(dataset_cfg("DescribableTextures", tmp_path)).hierarchy
    leaves = hierarchy.prompt_names("official")[hierarchy.level_offsets[-1]:]
    assert leaves == [official_rule(name) for name in names]
    assert "polka-dotted" in leaves


# ---------------------------------------------------------------------- leaves that share a prompt name
def test_two_leaves_can_share_a_prompt_spelling_and_stay_two_nodes():
    paths = [("weapon", "missile"), ("weapon", "projectile, missile"), ("tool", "mid-size_hammer")]
    hierarchy = Hierarchy(("parent", "class"), paths, {"projectile, missile": "missile"})
    assert hierarchy.leaf_names == ("missile", "projectile, missile", "mid size hammer")  # identities unchanged
    assert hierarchy.prompt_names("official")[2:] == ["missile", "missile", "mid-size hammer"]
    assert hierarchy.prompt_names("normalized")[2:] == ["missile", "missile", "mid size hammer"]
    plain = Hierarchy(("parent", "class"), paths)
    assert hierarchy == plain and hierarchy.digest() == plain.digest()  # the tree is the same
    assert plain.prompt_names("normalized") == list(plain.node_names)
    kept = hierarchy.restrict([1, 2])
    assert kept.prompt_spellings == {"projectile, missile": "missile"}
    assert kept.prompt_names("official") == ["weapon", "tool", "missile", "mid-size hammer"]
    assert hierarchy.restrict([0, 2]).prompt_spellings == {}


def test_a_prompt_spelling_for_a_name_that_is_not_a_leaf_is_refused():
    with pytest.raises(HierarchyError, match="not leaves: \\['weapon'\\]"):
        Hierarchy(("parent", "class"), [("weapon", "missile")], {"weapon": "arms"})


def test_imagenet_prompts_keep_clips_class_names(tmp_path):
    """CLIP's class list names two classes "missile"; they are two nodes, both prompted "missile"."""
    tree = write_imagenet_family(tmp_path)
    wnids = tree["wnids"]
    full = build_dataset(dataset_cfg("ImageNet", tmp_path)).hierarchy
    leaves = full.prompt_names("official")[full.level_offsets[-1]:]
    assert leaves[1:3] == ["twin class", "twin class"]  # classnames.txt's shared name, as CLIP prompts it
    assert full.leaf_names[1:3] == (f"synset {wnids[1]}", f"synset {wnids[2]}")  # told apart by words.txt
    assert leaves[0] == f"class {wnids[0]}"
    base = build_dataset(dataset_cfg("ImageNet", tmp_path, NUM_SHOTS=1, SUBSAMPLE_CLASSES="base")).hierarchy
    assert base.prompt_names("official")[base.level_offsets[-1]:][1:3] == ["twin class", "twin class"]
