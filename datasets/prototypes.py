"""Per-node visual prototypes: the mean frozen-CLIP image feature of the training images under each node.

HGCLIP (Sec. 4.3, Eq. 7) gives the image side hierarchy information through one
prototype per node of every level, averaged over the training split only. This
module has one job: given a frozen image encoder, a list of (image, leaf) items,
their hierarchy, the hierarchy to report on and the options, return the node
prototypes (:func:`build_node_prototypes`), cached under a key that holds
everything that changes them (images, labels, hierarchy, backbone weights,
transform, options), so a stale cache is never used. It knows nothing about
trainers or configs: the data side hands it the split, the model receives a tensor.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..common.fileio import atomic_torch_save
from ..hierarchy import Hierarchy, normalize_classname
from ..runtime.rng import isolated_rng

EMPTY_MODES = ("text", "zero", "previous")
TRANSFORMS = ("test", "train")


@dataclass(frozen=True)
class PrototypeOptions:
    """How prototypes are built (``TRAINER.HGCLIP.PROTOTYPES``).

    Attributes:
        transform: ``"test"`` (deterministic) or ``"train"`` (the official code's) preprocessing.
        normalize: L2-normalise every image feature before averaging.
        empty: surrogate for nodes without images (:func:`fill_empty_nodes`).
        empty_template: prompt of the ``text`` surrogate (one ``{}`` for the node name).
        batch_size: images per encoder call.
    """

    transform: str = "test"
    normalize: bool = True
    empty: str = "text"
    empty_template: str = "a photo of a {}."
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.TRANSFORM must be train or test, got {self.transform!r}")
        if self.empty not in EMPTY_MODES:
            raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.EMPTY must be one of {EMPTY_MODES}, got {self.empty!r}")
        if "{}" not in self.empty_template:
            raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.EMPTY_TEMPLATE must contain '{{}}', got {self.empty_template!r}")
        if self.batch_size < 1:
            raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.BATCH_SIZE must be >= 1, got {self.batch_size}")


@dataclass
class NodePrototypes:
    """Prototypes ``[num_nodes, D]`` in the hierarchy's global node order, with their provenance."""

    prototypes: Tensor
    counts: Tensor  # training images under each node
    node_names: list[str]
    node_levels: list[int]
    key: dict
    path: str = ""  # the cache file, once saved or loaded

    @property
    def empty_nodes(self) -> list[int]:
        return [i for i, c in enumerate(self.counts.tolist()) if c == 0]


class _ImageItems(Dataset):
    """``{"img", "label"}`` per (image path, leaf label) item, preprocessed by ``transform``."""

    def __init__(self, items: Sequence[Any], transform: Callable[[Image.Image], Tensor]) -> None:
        self.items, self.transform = list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        with Image.open(item.impath) as image:
            return {"img": self.transform(image.convert("RGB")), "label": int(item.label)}


def image_batches(items: Sequence[Any], transform: Callable[[Image.Image], Tensor], batch_size: int,
                  num_workers: int = 0) -> DataLoader:
    """The items in file order (no shuffling), ``batch_size`` at a time; every image is used."""
    return DataLoader(_ImageItems(items, transform), batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      drop_last=False)


def leaf_feature_sums(
    encode: Callable[[Tensor], Tensor],
    batches: Iterable[dict],
    num_leaves: int,
    device: torch.device,
    normalize: bool,
    progress: bool = True,
) -> tuple[Tensor, Tensor]:
    """Sum of (optionally L2-normalised) image features and image count per leaf."""
    sums: Optional[Tensor] = None
    counts = torch.zeros(num_leaves, dtype=torch.long)
    iterator = tqdm(batches, desc="prototypes", disable=not progress, leave=False)
    with torch.no_grad():
        for batch in iterator:
            features = encode(batch["img"].to(device)).float().cpu()
            if normalize:
                features = F.normalize(features, dim=-1)
            if sums is None:
                sums = torch.zeros(num_leaves, features.shape[1])
            labels = batch["label"].long()
            sums.index_add_(0, labels, features)
            counts += torch.bincount(labels, minlength=num_leaves)
    if sums is None:
        raise ValueError("cannot build prototypes: the training split is empty")
    return sums, counts


def node_means(leaf_sums: Tensor, leaf_counts: Tensor, hierarchy: Hierarchy) -> tuple[Tensor, Tensor]:
    """Mean over ALL images under each node (a coarse node averages every descendant image)."""
    incidence = hierarchy.node_leaf_incidence().float()
    node_sums = incidence @ leaf_sums
    node_counts = (incidence @ leaf_counts.float()).long()
    means = node_sums / node_counts.clamp(min=1).unsqueeze(1).float()
    return means, node_counts


def map_nodes(values: Tensor, counts: Tensor, source: Hierarchy, target: Hierarchy) -> tuple[Tensor, Tensor]:
    """Carry per-node values from ``source`` to ``target`` by node identity (level, name).

    Used when the prototypes come from other classes than those evaluated: a model
    trained on base classes is tested on new ones, whose shared ancestors keep the
    base images' prototypes and whose own nodes have none (count 0).
    """
    return map_named_nodes(values, counts, source.node_names, source.node_levels, target)


def map_named_nodes(values: Tensor, counts: Tensor, names: Sequence[str], levels: Sequence[int],
                    target: Hierarchy) -> tuple[Tensor, Tensor]:
    """:func:`map_nodes` for values whose nodes are given by ``names`` and ``levels`` (e.g. read from a file).

    Levels are matched by depth (0 = coarsest) and names through ``normalize_classname``,
    so a target whose hierarchy spells a class differently still finds it.
    """
    index = {(level, normalize_classname(name).casefold()): i for i, (name, level) in enumerate(zip(names, levels))}
    mapped = values.new_zeros(target.num_nodes, values.shape[1])
    mapped_counts = counts.new_zeros(target.num_nodes)
    for j, (level, name) in enumerate(zip(target.node_levels, target.node_names)):
        i = index.get((level, normalize_classname(name).casefold()))
        if i is not None:
            mapped[j], mapped_counts[j] = values[i], counts[i]
    return mapped, mapped_counts


def fill_empty_nodes(prototypes: Tensor, counts: Tensor, mode: str,
                     text_features: Optional[Callable[[], Tensor]] = None) -> Tensor:
    """Give nodes without training images a surrogate prototype.

    * ``text``: the node's CLIP text embedding, rescaled to the mean prototype norm
      (the default; new classes in base-to-new have no images);
    * ``zero``: a zero vector;
    * ``previous``: a copy of node ``i-1`` (what the official script does).
    """
    if mode not in EMPTY_MODES:
        raise ValueError(f"PROTOTYPES.EMPTY must be one of {EMPTY_MODES}, got {mode!r}")
    filled = prototypes.clone()
    empty = (counts == 0).nonzero().flatten().tolist()
    if not empty:
        return filled
    if mode == "zero":
        filled[empty] = 0
    elif mode == "previous":
        for node in empty:
            filled[node] = filled[node - 1] if node > 0 else 0
    else:
        if text_features is None:
            raise ValueError("PROTOTYPES.EMPTY=text needs the nodes' text features")
        features = text_features()
        present = counts > 0
        scale = prototypes[present].norm(dim=-1).mean() if present.any() else torch.tensor(1.0)
        filled[empty] = F.normalize(features[empty].float(), dim=-1) * scale
    return filled


def cache_file(cache_dir: str, key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:20]
    return osp.join(cache_dir, f"prototypes-{digest}.pt")


def load_cached(path: str, key: dict, hierarchy: Hierarchy) -> Optional[NodePrototypes]:
    """The cached prototypes when the file exists and its key and node table match exactly."""
    if not osp.isfile(path):
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a corrupt file is recomputed, with a note
        print(f"Warning: ignoring the unreadable prototype cache {path} ({type(error).__name__}: {error}); recomputing")
        return None
    if not isinstance(stored, dict) or not {"key", "node_names", "prototypes", "counts", "node_levels"} <= set(stored):
        print(f"Warning: {path} is not a prototype cache ({type(stored).__name__}); recomputing")
        return None
    if stored.get("key") != key or stored.get("node_names") != list(hierarchy.node_names):
        return None
    return NodePrototypes(stored["prototypes"], stored["counts"], stored["node_names"], stored["node_levels"], key, path)


def save_cached(path: str, prototypes: NodePrototypes) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    atomic_torch_save(
        {
            "key": prototypes.key,
            "node_names": prototypes.node_names,
            "node_levels": prototypes.node_levels,
            "prototypes": prototypes.prototypes,
            "counts": prototypes.counts,
        },
        path,
    )
    prototypes.path = path


def compute_node_prototypes(
    encode: Callable[[Tensor], Tensor],
    batches: Iterable[dict],
    source: Hierarchy,
    target: Hierarchy,
    device: torch.device,
    normalize: bool,
    empty_mode: str,
    text_features: Optional[Callable[[], Tensor]],
    key: dict,
    progress: bool = True,
) -> NodePrototypes:
    """Prototypes for every node of ``target`` from image batches labelled with ``source``'s leaves.

    ``source`` is the hierarchy of the training images (``{"img", "label"}`` batches);
    ``target`` the one being evaluated. They are the same object except in
    base-to-new testing. ``text_features()`` returns ``target``'s text features; it is
    only called when a node has no image and ``empty_mode`` is ``text``.
    """
    sums, counts = leaf_feature_sums(encode, batches, source.num_leaves, device, normalize, progress)
    means, node_counts = node_means(sums, counts, source)
    if source is not target:
        means, node_counts = map_nodes(means, node_counts, source, target)
    filled = fill_empty_nodes(means, node_counts, empty_mode, text_features)
    return NodePrototypes(filled, node_counts, list(target.node_names), list(target.node_levels), key)


def build_node_prototypes(
    encode: Callable[[Tensor], Tensor],
    items: Sequence[Any],
    source: Hierarchy,
    target: Hierarchy,
    options: PrototypeOptions,
    transform: Callable[[Image.Image], Tensor],
    device: torch.device,
    key: dict,
    cache_dir: str,
    text_features: Callable[[], Tensor],
    num_workers: int = 0,
    progress: bool = True,
) -> NodePrototypes:
    """Node prototypes of ``target`` from ``items`` (labelled by ``source``'s leaves), cached under ``key``.

    Args:
        encode: the frozen image encoder, ``[B, 3, H, W] -> [B, D]``.
        items: objects with ``impath`` and ``label`` (a leaf index of ``source``): the training split.
        source, target: the items' hierarchy and the one to report on (see :func:`compute_node_prototypes`).
        options: :class:`PrototypeOptions`.
        transform: the preprocessing (``options.transform`` says which one it is).
        device: where ``encode`` runs.
        key: everything the result depends on; its hash names the cache file in ``cache_dir``.
        text_features: returns ``target``'s text features (for the ``text`` surrogate), called only when needed.
    """
    path = cache_file(cache_dir, key)
    cached = load_cached(path, key, target)
    if cached is not None:
        print(f"Loaded node prototypes from {path}")
        return cached
    print(f"Computing node prototypes for {target.num_nodes} nodes from {len(items)} training images")
    # Only a run with an empty cache does this work: it must not move the training RNG (iterating a
    # DataLoader draws a base seed from torch's generator), or a re-run with the cache full would differ.
    with isolated_rng():
        batches = image_batches(items, transform, options.batch_size, num_workers)
        result = compute_node_prototypes(encode, batches, source, target, device, options.normalize, options.empty,
                                         text_features, key, progress)
    if result.empty_nodes:
        names = [target.node_names[i] for i in result.empty_nodes[:5]]
        print(f"{len(result.empty_nodes)} node(s) have no training images (e.g. {names}); "
              f"surrogate: PROTOTYPES.EMPTY={options.empty}")
    save_cached(path, result)
    print(f"Saved node prototypes to {path}")
    return result


# ---------------------------------------------------------------------- prototypes that travel with a model
def save_model_prototypes(path: str, prototypes: NodePrototypes, options: PrototypeOptions) -> None:
    """Write the prototypes a model was trained with, beside its checkpoint (atomically).

    A later evaluation on other classes or another dataset (base-to-new ``new``, cross-dataset,
    domain generalisation) then uses these source prototypes, mapped to its own nodes by name
    (:func:`transfer_prototypes`), and never builds prototypes from its own images.
    """
    atomic_torch_save({"node_names": prototypes.node_names, "node_levels": prototypes.node_levels,
                       "prototypes": prototypes.prototypes.cpu(), "counts": prototypes.counts.cpu(),
                       "normalize": options.normalize, "transform": options.transform, "key": prototypes.key}, path)


def load_model_prototypes(path: str) -> NodePrototypes:
    """The prototypes saved by :func:`save_model_prototypes` (a one-line error names a bad file)."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=False)
        return NodePrototypes(stored["prototypes"], stored["counts"], list(stored["node_names"]),
                              list(stored["node_levels"]), dict(stored.get("key", {})), path)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(f"{path}: not a prototypes file written by HGCLIP ({type(error).__name__}: {error})") from None


def transfer_prototypes(source: NodePrototypes, target: Hierarchy, empty_mode: str,
                        text_features: Callable[[], Tensor]) -> NodePrototypes:
    """``source``'s prototypes on ``target``'s nodes: matched by (level, name); the others get the surrogate.

    Only nodes that had training images in ``source`` (count > 0) carry over; surrogates that
    ``source`` itself filled in are recomputed for ``target``.
    """
    values, counts = map_named_nodes(source.prototypes.float(), source.counts, source.node_names, source.node_levels,
                                     target)
    filled = fill_empty_nodes(values, counts, empty_mode, text_features)
    return NodePrototypes(filled, counts, list(target.node_names), list(target.node_levels), dict(source.key),
                          source.path)
