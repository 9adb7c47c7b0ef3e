"""HGCLIP's forward: official mode against an independent re-statement, ablations, prototypes and their cache."""
from __future__ import annotations

import copy
import types

import pytest
import torch
import torch.nn.functional as F

from hgclip.backbones.testing import random_clip
from hgclip.hierarchy import parse_hierarchy_text
from hgclip.models.deep_prompt import DeepPromptCLIP
from hgclip.models.hgclip import HGCLIPModel
from hgclip.project import get_cfg
from hgclip.trainers.hgclip import hgclip_settings, prepare_prototypes, prototype_cache_key, prototype_options

TOY = """levels: family > shape > object
round > circle > red circle
round > ring > red ring
angular > square > red square
round > circle > blue circle
angular > square > blue square
angular > triangle > blue triangle
"""


@pytest.fixture(scope="module")
def hierarchy():
    return parse_hierarchy_text(TOY)


@pytest.fixture(scope="module")
def clip_model():
    return random_clip(embed_dim=64, vision_layers=3, vision_width=64, text_layers=3, text_width=64,
                       context_length=32, seed=0)


def hg_cfg(**overrides):
    cfg = get_cfg()
    node = cfg.TRAINER.HGCLIP
    node.N_CTX_TEXT, node.N_CTX_VISION = 2, 2
    node.PROMPT_DEPTH_TEXT, node.PROMPT_DEPTH_VISION = 3, 3
    for key, value in overrides.items():
        target = node
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return node


def build(clip_model, hierarchy, node, seed=0):
    torch.manual_seed(seed)
    settings = hgclip_settings(node, 64)
    prototypes = torch.randn(hierarchy.num_nodes, 64, generator=torch.Generator().manual_seed(1)) * 3
    model = HGCLIPModel(clip_model, hierarchy, settings, prototypes)
    with torch.no_grad():  # random graph weights of a visible size, so the terms matter
        for p in model.learner.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))


# ------------------------------------------------------------------ official equations, re-stated
def dense_gat(x, conv, adjacency):
    """Single-head GAT written out: e_ij = LeakyReLU(a_s.Wx_j + a_d.Wx_i) over j -> i edges, softmax over j."""
    h = x @ conv.lin.weight.t()
    a_src = (h * conv.att_src.view(-1)).sum(-1)
    a_dst = (h * conv.att_dst.view(-1)).sum(-1)
    scores = F.leaky_relu(a_dst[:, None] + a_src[None, :], 0.2)
    scores = scores.masked_fill(~adjacency, float("-inf"))
    return torch.softmax(scores, dim=1) @ h + conv.bias


def official_logits(model, hierarchy, images):
    """The official graph encoders: top-down edges + self-loops, GAT 3 layers GELU, no normalisation in the branch."""
    k = hierarchy.num_nodes
    adjacency = torch.eye(k, dtype=torch.bool)  # adjacency[i, j]: j sends to i
    for child, parent in enumerate(hierarchy.parents):
        if parent >= 0:
            adjacency[child, parent] = True

    def gnn(x, encoder):
        convs = list(encoder.convs)
        assert len(convs) == 3 and all(c.heads == 1 for c in convs)
        x = F.gelu(dense_gat(x, convs[0], adjacency))
        x = F.gelu(dense_gat(x, convs[1], adjacency))
        return dense_gat(x, convs[2], adjacency)

    text = F.normalize(gnn(model.prompted_text_features(), model.learner.text_gnn), dim=-1)
    g, tokens = model.encode_images(images, return_tokens=True)
    protos = gnn(model.prototypes, model.learner.image_gnn)
    logits = []
    for b in range(images.shape[0]):  # the official per-sample loop
        attention = torch.softmax(2 * tokens[b] @ protos.t(), dim=-1)
        attended = attention @ protos
        pooled = attended.mean(0) + attended.max(0).values
        logits.append(model.logit_scale.exp() * g[b] @ text.t() + 0.2 * (100 * pooled @ text.t()))
    return torch.stack(logits)


def test_official_mode_matches_the_official_equations(clip_model, hierarchy, images):
    model = build(clip_model, hierarchy, hg_cfg(MODE="official"))
    assert model.learner.text_gnn.convs[0].lin.weight.shape == (1024, 64)  # D -> 1024 -> 1024 -> D, any backbone
    with torch.no_grad():
        torch.testing.assert_close(model(images), official_logits(model, hierarchy, images), rtol=1e-4, atol=1e-3)


def test_default_mode_differs_from_official(clip_model, hierarchy, images):
    official = build(clip_model, hierarchy, hg_cfg(MODE="official"))
    default = build(clip_model, hierarchy, hg_cfg())
    with torch.no_grad():
        assert not torch.allclose(official(images), default(images))
    s = hgclip_settings(hg_cfg(), 64)
    assert s.normalize and s.text_gnn.direction == "both" and s.text_gnn.heads == 8


def test_official_mode_names_each_user_key_it_overrides():
    import warnings

    with pytest.warns(UserWarning) as record:
        settings = hgclip_settings(hg_cfg(MODE="official", **{"ATTENTION.ALPHA": 0.3, "TEXT_GNN.HEADS": 4}), 64)
    messages = sorted(str(w.message) for w in record)
    assert messages == ["TRAINER.HGCLIP.MODE official overrides TRAINER.HGCLIP.ATTENTION.ALPHA=0.3 with 0.5",
                        "TRAINER.HGCLIP.MODE official overrides TRAINER.HGCLIP.TEXT_GNN.HEADS=4 with 1"]
    assert settings.alpha == 0.5 and settings.text_gnn.heads == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # keys left at their defaults are overridden silently
        hgclip_settings(hg_cfg(MODE="official"), 64)


HYPHENATED = """levels: superclass > class > variant
large_man-made_outdoor_things > bridge > 707-320
non-insect_invertebrates > crab > A300B4
"""


def test_official_mode_prompts_tokenize_as_the_official_code(clip_model):
    """The official code replaces only '_' (CIFAR-100's man-made, FGVC's 707-320 keep their hyphens)."""
    from hgclip.backbones.openai_clip import clip

    hierarchy = parse_hierarchy_text(HYPHENATED)
    official = build(clip_model, hierarchy, hg_cfg(MODE="official"))
    raw = ["large_man-made_outdoor_things", "non-insect_invertebrates", "bridge", "crab", "707-320", "A300B4"]
    expected = clip.tokenize([f"a photo of a {name.replace('_', ' ')}." for name in raw], context_length=32)
    assert torch.equal(official.learner.text_prompts.tokenized, expected)
    default = build(clip_model, hierarchy, hg_cfg())
    assert torch.equal(default.learner.text_prompts.tokenized, expected)  # the default style is the official one
    normalized = build(clip_model, hierarchy, hg_cfg(NAME_STYLE="normalized"))
    assert not torch.equal(normalized.learner.text_prompts.tokenized, expected)  # "man made", "707 320"
    pinned = build(clip_model, hierarchy, hg_cfg(MODE="official", NAME_STYLE="normalized"))
    assert torch.equal(pinned.learner.text_prompts.tokenized, expected)  # MODE official pins NAME_STYLE official
    assert hierarchy.node_names[0] == "large man made outdoor things"  # nodes are still matched by normalised name


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="TRAINER.HGCLIP.MODE must be one of"):
        hgclip_settings(hg_cfg(MODE="exact"), 64)


# ------------------------------------------------------------------ ablations
@pytest.mark.parametrize("component", ["TEXT_GNN.ENABLED", "IMAGE_GNN.ENABLED", "ATTENTION.ENABLED"])
def test_turning_a_component_off_changes_the_logits(clip_model, hierarchy, images, component):
    full = build(clip_model, hierarchy, hg_cfg())
    ablated = build(clip_model, hierarchy, hg_cfg(**{component: False}))
    with torch.no_grad():
        assert not torch.allclose(full(images), ablated(images), atol=1e-4)


def test_all_components_off_is_ivlp(clip_model, hierarchy, images):
    node = hg_cfg(**{"TEXT_GNN.ENABLED": False, "IMAGE_GNN.ENABLED": False, "ATTENTION.ENABLED": False})
    hg = build(clip_model, hierarchy, node)
    ivlp = DeepPromptCLIP(clip_model, list(hierarchy.node_names), 2, 2, 3, 3, "a photo of a")
    ivlp.learner.load_state_dict(hg.learner.state_dict())
    assert set(hg.learner.state_dict()) == set(ivlp.learner.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(hg.eval()(images), ivlp.eval()(images))


def test_attention_is_batched_not_per_sample(clip_model, hierarchy, images):
    model = build(clip_model, hierarchy, hg_cfg())
    with torch.no_grad():
        batched = model(images)
        model.clear_cache()
        single = torch.cat([model(images[i : i + 1]) for i in range(images.shape[0])])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-4)


def test_eval_cache_is_cleared_when_training_resumes(clip_model, hierarchy, images):
    model = build(clip_model, hierarchy, hg_cfg())
    with torch.no_grad():
        before = model(images)
        model.learner.text_prompts.ctx.add_(torch.randn_like(model.learner.text_prompts.ctx))
        assert torch.equal(model(images), before)  # eval: text features cached
    model.train()
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(images), before)


# ------------------------------------------------------------------ prototypes and their cache
def fake_dataset(hierarchy, tmp_path, n_per_leaf=2):
    from PIL import Image

    from hgclip.runtime.dassl_api import Datum

    items = []
    for leaf in range(hierarchy.num_leaves):
        for i in range(n_per_leaf):
            path = tmp_path / f"img_{leaf}_{i}.png"
            Image.new("RGB", (40, 40), (leaf * 30 % 255, i * 90, 100)).save(path)
            items.append(Datum(impath=str(path), label=leaf, classname=hierarchy.leaf_names[leaf]))
    return types.SimpleNamespace(train_x=items, hierarchy=hierarchy, dataset_dir=str(tmp_path))


def proto_cfg(tmp_path):
    cfg = get_cfg()
    cfg.DATASET.NAME = "Toy"
    cfg.INPUT.SIZE = (32, 32)
    cfg.INPUT.PIXEL_MEAN = [0.48145466, 0.4578275, 0.40821073]
    cfg.INPUT.PIXEL_STD = [0.26862954, 0.26130258, 0.27577711]
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR = str(tmp_path / "cache")
    return cfg


def test_prototypes_are_node_means_of_training_features(clip_model, hierarchy, tmp_path):
    cfg = proto_cfg(tmp_path)
    cfg.TRAINER.HGCLIP.PROTOTYPES.NORMALIZE = False
    dataset = fake_dataset(hierarchy, tmp_path)
    result = prepare_prototypes(cfg, dataset, clip_model, torch.device("cpu"), progress=False)
    # recompute the "round" family (node 0) by hand: every image under it
    from PIL import Image

    from hgclip.runtime.dassl_api import build_transform

    tfm = build_transform(cfg, is_train=False)
    under_round = [item for item in dataset.train_x if hierarchy.ancestors[item.label, 0] == 0]
    with torch.no_grad():
        feats = clip_model.encode_image(torch.stack([tfm(Image.open(i.impath).convert("RGB")) for i in under_round]))
    torch.testing.assert_close(result.prototypes[0], feats.mean(0), rtol=1e-4, atol=1e-5)
    assert result.counts[0] == len(under_round)
    assert result.node_names == list(hierarchy.node_names)


def test_empty_nodes_get_the_text_surrogate(clip_model, hierarchy, tmp_path):
    cfg = proto_cfg(tmp_path)
    dataset = fake_dataset(hierarchy, tmp_path)
    dataset.train_x = [item for item in dataset.train_x if item.label != 5]  # "blue triangle" has no images
    result = prepare_prototypes(cfg, dataset, clip_model, torch.device("cpu"), progress=False)
    empty = [hierarchy.node_names[i] for i in result.empty_nodes]
    assert empty == ["triangle", "blue triangle"]
    assert torch.isfinite(result.prototypes).all() and result.prototypes[result.empty_nodes].norm(dim=-1).gt(0).all()


def test_prototype_cache_is_reused_and_invalidated_by_every_key(clip_model, hierarchy, tmp_path, capsys):
    cfg = proto_cfg(tmp_path)
    dataset = fake_dataset(hierarchy, tmp_path)
    options = prototype_options(cfg.TRAINER.HGCLIP)
    device = torch.device("cpu")
    prepare_prototypes(cfg, dataset, clip_model, device, progress=False)
    assert "Computing node prototypes" in capsys.readouterr().out
    prepare_prototypes(cfg, dataset, clip_model, device, progress=False)
    assert "Loaded node prototypes" in capsys.readouterr().out

    from hgclip.runtime.dassl_api import build_transform

    def key(c=cfg, d=dataset, m=clip_model, s=options):
        return prototype_cache_key(c, d, m, s, build_transform(c, is_train=s.transform == "train"))

    base_key = key()
    variants = {}
    for name, value in [("DATASET.NAME", "Other"), ("DATASET.NUM_SHOTS", 4), ("SEED", 7),
                        ("DATASET.SUBSAMPLE_CLASSES", "base"), ("INPUT.SIZE", (40, 40))]:
        changed = cfg.clone()
        changed.merge_from_list([name, value])
        variants[name] = key(c=changed)
    variants["backbone weights"] = key(m=random_clip(embed_dim=64, vision_layers=3, vision_width=64, text_layers=3,
                                                     text_width=64, context_length=32, seed=5))
    variants["transform"] = key(s=prototype_options(hg_cfg(**{"PROTOTYPES.TRANSFORM": "train"})))
    variants["normalize"] = key(s=prototype_options(hg_cfg(**{"PROTOTYPES.NORMALIZE": False})))
    smaller = copy.copy(dataset)
    smaller.train_x = dataset.train_x[:-1]
    variants["images"] = key(d=smaller)
    edited = copy.copy(dataset)
    edited.hierarchy = parse_hierarchy_text(TOY.replace("angular > triangle", "round > triangle"))
    variants["hierarchy"] = key(d=edited)
    for name, value in variants.items():
        assert value != base_key, f"changing {name} must invalidate the prototype cache"

    edited.train_x = dataset.train_x
    prepare_prototypes(cfg, edited, clip_model, device, progress=False)
    assert "Computing node prototypes" in capsys.readouterr().out, "a stale cache must never be used"


def test_new_class_prototypes_never_use_new_class_images(hiershapes_root, tmp_path):
    """Base-to-new: testing on new classes builds prototypes from the base classes' training images."""
    from trainer_helpers import make_cfg

    from hgclip.backbones import load_clip
    from hgclip.runtime.dassl_api import build_dataset

    cfg = make_cfg("HGCLIP", hiershapes_root, str(tmp_path / "out"), "DATASET.SUBSAMPLE_CLASSES", "new",
                   "TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR", str(tmp_path / "cache"))
    dataset = build_dataset(cfg)
    clip_model = load_clip(cfg.MODEL.BACKBONE)
    options = prototype_options(cfg.TRAINER.HGCLIP)
    result = prepare_prototypes(cfg, dataset, clip_model, torch.device("cpu"), progress=False)
    h = dataset.hierarchy
    leaf_counts = result.counts[h.level_slices[-1]]
    assert (leaf_counts == 0).all(), "new leaves must have no images"
    assert (result.counts[: h.level_offsets[-1]] > 0).all(), "shared ancestors keep the base images"
    assert result.key["source"] == "base"
    assert result.key["images"] != prototype_cache_key(
        cfg, dataset, clip_model, options, None)["images"], "the images are the base split's, not the new one's"


def test_a_prototype_cache_of_another_type_is_recomputed_with_a_warning(hierarchy, tmp_path, capsys):
    """Issue 18: a file of the wrong type at the cache path was a traceback; now it is recomputed."""
    from hgclip.datasets.prototypes import load_cached

    for content in (torch.zeros(3), ["not", "a", "cache"], {"key": {}}):
        path = str(tmp_path / "prototypes-x.pt")
        torch.save(content, path)
        assert load_cached(path, {"k": 1}, hierarchy) is None
        assert "is not a prototype cache" in capsys.readouterr().out
