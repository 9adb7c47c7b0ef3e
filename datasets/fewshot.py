"""The few-shot draw: K images per class, cached under this project's own name, CoOp's draw used when present.

* **The draw.** Dassl's ``generate_fewshot_dataset`` takes K shots per class from the training split
  and min(K, 4) from the validation split, right after Python's ``random`` is seeded with
  ``cfg.SEED`` (and restored after), so the draw is a function of (split, K, seed) only.
* **This project's cache** is ``<dataset_dir>/split_fewshot/hgclip_shot_<K>-seed_<SEED>.json``:
  ``[relpath, label, classname]`` rows (relative paths, so moving ``DATASET.ROOT`` keeps it
  valid) and a fingerprint of the split drawn from, so a changed split is drawn again.
* **CoOp's file** ``<dataset_dir>/split_fewshot/shot_<K>-seed_<SEED>.pkl`` belongs to CoOp,
  CoCoOp, MaPLe, KgCoOp and PromptSRC (a pickle of Dassl ``Datum`` lists). It is never written
  here. When it is there and every image it lists is in this split, its draw is used (read
  without running any code from the file), so a run here trains on the images those tools train
  on; the run says which draw it used. A file of that name written by an earlier version of this
  project (which broke those tools' next run) is moved to this project's name.
* ``SEED < 0``: a fresh random draw, neither cached nor read.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
from typing import Any, Callable, Iterator, Optional, Sequence

from ..common.fileio import atomic_write_text
from ..hierarchy import Hierarchy
from ..runtime.dassl_api import Datum
from .fingerprint import listing_fingerprint
from .split_io import data_to_rows, rows_to_data

CACHE_VERSION = 2  # 1: the pickle an earlier version wrote under CoOp's file name
FEWSHOT_DIR = "split_fewshot"
LEGACY_VERSION = 1

Draw = tuple[list[Datum], list[Datum]]


def cache_path(dataset_dir: str, num_shots: int, seed: int) -> str:
    """This project's cache of one draw."""
    return os.path.join(dataset_dir, FEWSHOT_DIR, f"hgclip_shot_{num_shots}-seed_{seed}.json")


def coop_path(dataset_dir: str, num_shots: int, seed: int) -> str:
    """CoOp's (and MaPLe's, ...) file of the same draw: read when present, never written."""
    return os.path.join(dataset_dir, FEWSHOT_DIR, f"shot_{num_shots}-seed_{seed}.pkl")


@contextlib.contextmanager
def seeded_python_random(seed: int) -> Iterator[None]:
    """Seed Python's ``random`` for a block, then restore the caller's state.

    Dassl's few-shot sampler uses the global ``random``; seeding it here makes the draw a function
    of (split, K, seed) only, and restoring it keeps the rest of the run identical whether or not a
    cache existed. ``seed < 0`` leaves the global state alone (a genuinely random draw).
    """
    if seed < 0:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def fewshot_splits(sample: Callable[[Sequence[Datum], int], list[Datum]], dataset_dir: str, image_dir: str,
                   hierarchy: Hierarchy, train: Sequence[Datum], val: Sequence[Datum], num_shots: int,
                   seed: int) -> Draw:
    """K-shot train and min(K, 4)-shot val (see the module docstring for where they come from).

    ``sample(items, k)`` is the dataset's ``generate_fewshot_dataset``.
    """
    if seed < 0:
        return _draw(sample, train, val, num_shots, seed)
    ours, coops = cache_path(dataset_dir, num_shots, seed), coop_path(dataset_dir, num_shots, seed)
    fingerprint = listing_fingerprint(train, val, root=image_dir)
    if os.path.isfile(coops):
        used = _read_coop_file(coops, ours, train, val, image_dir)
        if used is not None:
            return used
    if os.path.isfile(ours):
        cached = _read_cache(ours, fingerprint, image_dir, hierarchy)
        if cached is not None:
            return cached
    drawn = _draw(sample, train, val, num_shots, seed)
    _write_cache(ours, fingerprint, drawn, image_dir)
    return drawn


def _draw(sample: Callable[..., list[Datum]], train: Sequence[Datum], val: Sequence[Datum], num_shots: int,
          seed: int) -> Draw:
    with seeded_python_random(seed):
        drawn_train = sample(train, num_shots=num_shots)
        drawn_val = sample(val, num_shots=min(num_shots, 4)) if val else []
    return list(drawn_train), list(drawn_val)


def _write_cache(path: str, fingerprint: str, drawn: Draw, image_dir: str) -> None:
    content = {"version": CACHE_VERSION, "fingerprint": fingerprint,
               "train": data_to_rows(drawn[0], image_dir), "val": data_to_rows(drawn[1], image_dir)}
    try:
        atomic_write_text(path, json.dumps(content))
    except OSError as error:  # a read-only data root: the draw is the same without the cache
        print(f"Warning: could not write the few-shot cache {path} ({error})")
        return
    print(f"Saving the few-shot split to {path}")


def _read_cache(path: str, fingerprint: str, image_dir: str, hierarchy: Hierarchy) -> Optional[Draw]:
    """The cached draw, or None when the file is unreadable, of another version or of another split."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"Ignoring the unreadable few-shot cache {path} ({error}); drawing again")
        return None
    if not isinstance(content, dict) or content.get("version") != CACHE_VERSION:
        print(f"Ignoring the few-shot cache {path} in another format; drawing again")
        return None
    if content.get("fingerprint") != fingerprint:
        print(f"The few-shot cache {path} was drawn from a different split; drawing again")
        return None
    print(f"Loading the few-shot split from {path}")
    return (rows_to_data(content["train"], image_dir, hierarchy, where=f"{path}:train"),
            rows_to_data(content["val"], image_dir, hierarchy, where=f"{path}:val"))


# ---------------------------------------------------------------------------------------- CoOp's file
class _CoOpDatum:
    """What a Dassl ``Datum`` in CoOp's pickle holds (its attributes are ``_impath``, ``_label``, ...)."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def impath(self) -> str:
        return str(self.__dict__.get("_impath", self.__dict__.get("impath", "")))


class _CoOpUnpickler(pickle.Unpickler):
    """Reads CoOp's few-shot pickle without importing Dassl or running anything else the file names."""

    ALLOWED = {("copyreg", "_reconstructor"), ("builtins", "object")}

    def find_class(self, module: str, name: str) -> Any:
        if name == "Datum" and module.endswith("base_dataset"):
            return _CoOpDatum
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a few-shot split")


def _read_coop_file(path: str, ours: str, train: Sequence[Datum], val: Sequence[Datum], image_dir: str) -> Optional[Draw]:
    """CoOp's draw as items of this split, or None (with a note) when it cannot be used."""
    try:
        with open(path, "rb") as handle:
            content = _CoOpUnpickler(handle).load()
    except Exception as error:  # noqa: BLE001  (any unreadable or foreign pickle means: draw our own)
        print(f"Not using {path} ({type(error).__name__}: {error}); drawing the few-shot split here")
        return None
    if isinstance(content, dict) and content.get("version") == LEGACY_VERSION and "fingerprint" in content:
        _move_legacy_file(path, ours, content)
        return None
    if not (isinstance(content, dict) and isinstance(content.get("train"), list)):
        print(f"Not using {path}: not a few-shot split of CoOp's format; drawing the few-shot split here")
        return None
    by_relpath = {os.path.normpath(os.path.relpath(item.impath, image_dir)): item for item in [*train, *val]}
    picked: list[list[Datum]] = []
    for name in ("train", "val"):
        items = []
        for entry in content.get(name) or []:
            item = _match(getattr(entry, "impath", ""), by_relpath)
            if item is None:
                print(f"Not using {path}: its {name} image {getattr(entry, 'impath', entry)!r} is not in this split; "
                      "drawing the few-shot split here")
                return None
            items.append(item)
        picked.append(items)
    print(f"Few-shot split: {path}, the draw CoOp/MaPLe made ({len(picked[0])} train, {len(picked[1])} val images)")
    return picked[0], picked[1]


def _match(impath: str, by_relpath: dict[str, Datum]) -> Optional[Datum]:
    """The item whose path relative to the image folder is the longest tail of ``impath`` (roots may differ)."""
    parts = os.path.normpath(impath).split(os.sep)
    for start in range(len(parts)):
        item = by_relpath.get(os.path.join(*parts[start:]))
        if item is not None:
            return item
    return None


def _move_legacy_file(path: str, ours: str, content: dict) -> None:
    """An earlier version of this project wrote its cache under CoOp's name: give the name back."""
    if not os.path.isfile(ours):
        with contextlib.suppress(OSError):
            atomic_write_text(ours, json.dumps({**content, "version": CACHE_VERSION}))
    try:
        os.remove(path)
    except OSError as error:
        print(f"Warning: {path} was written by an earlier version of this project under CoOp's name; "
              f"remove it so that CoOp/MaPLe can write theirs ({error})")
        return
    print(f"Moved {path}, written by an earlier version of this project, to {ours} (the name is CoOp's)")
