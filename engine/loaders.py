"""Data loaders whose order and augmentations are a function of (seed, epoch, position) only.

Why not Dassl's ``RandomSampler`` loader: its order and every random augmentation draw
from the global torch generator, so they change with the number of processes, of
data-loader workers, and with whatever drew from the generator before (a prototype
cache that was empty in one run and full in the next). Here:

* :class:`GlobalBatchSampler` cuts one seeded permutation per epoch (a
  ``torch.Generator`` seeded from the run seed and the epoch) into **global** batches of
  ``DATALOADER.TRAIN_X.BATCH_SIZE``; with N processes each takes its contiguous share of
  every global batch, so N processes see exactly the batches one process sees. It can
  start mid-epoch (exact resume) and its state is three integers.
* :class:`SeededSampleWrapper` runs each training sample's transform under a seed derived
  from (run seed, epoch, position in the epoch), so a sample gets the same augmentation
  in every process layout and after a resume.
* :class:`ShardSampler` gives rank ``r`` the test samples ``r, r + N, ...``: every sample is
  evaluated exactly once, whatever N and the split size (no padding).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import torch
from torch.utils.data import DataLoader, Sampler

from ..common.errors import InputError
from ..datasets.image_check import read_failure
from ..runtime.dassl_api import DatasetWrapper
from ..runtime.rng import derive_seed, seeded_rng

SHUFFLING_SAMPLERS = ("RandomSampler",)
ORDERED_SAMPLERS = ("SequentialSampler",)


class GlobalBatchSampler(Sampler):
    """Batches of ``(index, sample seed)`` pairs: this process's share of each global batch of one epoch.

    Args:
        num_samples: size of the training split.
        global_batch_size: samples per optimisation step summed over all processes.
        seed: the run seed (the permutation of epoch ``e`` is seeded with ``(seed, e)``).
        shuffle: permute every epoch (``RandomSampler``) or keep the file order (``SequentialSampler``).
        drop_last: drop a last partial global batch (only when there is at least one full batch).
        rank, world_size: this process's share.
    """

    def __init__(self, num_samples: int, global_batch_size: int, seed: int, shuffle: bool = True,
                 drop_last: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if global_batch_size < 1:
            raise InputError(f"DATALOADER.TRAIN_X.BATCH_SIZE must be >= 1, got {global_batch_size}")
        if num_samples < 1:
            raise InputError("the training split is empty")
        self.num_samples, self.global_batch_size = num_samples, global_batch_size
        self.seed, self.shuffle, self.rank, self.world_size = int(seed), shuffle, rank, world_size
        self.drop_last = drop_last and num_samples >= global_batch_size
        smallest = global_batch_size if self.drop_last or num_samples % global_batch_size == 0 \
            else min(global_batch_size, num_samples % global_batch_size)
        if smallest < world_size:
            raise InputError(
                f"DATALOADER.TRAIN_X.BATCH_SIZE is the global batch ({global_batch_size}, split over {world_size} "
                f"processes): a batch of {smallest} training images cannot give every process a share; "
                f"use fewer processes or a larger batch"
            )
        self.epoch = 0
        self.start = 0

    @property
    def num_batches(self) -> int:
        """Global batches per epoch (the same on every rank)."""
        if self.drop_last:
            return self.num_samples // self.global_batch_size
        return math.ceil(self.num_samples / self.global_batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` from its global batch ``start`` on (``start > 0``: resuming mid-epoch)."""
        if not 0 <= start <= self.num_batches:
            raise ValueError(f"cannot start epoch {epoch} at batch {start} of {self.num_batches}")
        self.epoch, self.start = int(epoch), int(start)

    def permutation(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "train order", epoch))
        return torch.randperm(self.num_samples, generator=generator)

    def global_batches(self, epoch: int) -> list[torch.Tensor]:
        order = self.permutation(epoch)
        return [order[i:i + self.global_batch_size] for i in range(0, self.num_batches * self.global_batch_size,
                                                                   self.global_batch_size)][:self.num_batches]

    def __iter__(self) -> Iterator[list]:
        batches = self.global_batches(self.epoch)
        for number in range(self.start, self.num_batches):
            batch = batches[number]
            positions = torch.arange(number * self.global_batch_size, number * self.global_batch_size + len(batch))
            share = torch.tensor_split(torch.arange(len(batch)), self.world_size)[self.rank]
            yield [(int(batch[i]), derive_seed(self.seed, "augment", self.epoch, int(positions[i]))) for i in share]

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]), int(state["start"]))


class ShardSampler(Sampler):
    """Indices ``rank, rank + world_size, ...`` of ``num_samples``: each sample on exactly one rank."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_samples, self.rank, self.world_size = num_samples, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_samples, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))


class SeededSampleWrapper(DatasetWrapper):
    """Dassl's ``DatasetWrapper`` that also accepts ``(index, seed)``: the transform then runs under that seed."""

    def __getitem__(self, key: Union[int, tuple]) -> dict:
        index = key[0] if isinstance(key, tuple) else key
        try:
            if isinstance(key, tuple):
                with seeded_rng(key[1]):
                    return super().__getitem__(index)
            return super().__getitem__(index)
        except Exception:
            # a file that passed the listing's check (DATASET.CHECK_IMAGES exists) but does not decode: one line
            # naming it instead of PIL's traceback; any other failure is a bug and keeps its own
            failure = read_failure(self.data_source[index].impath)
            if failure is not None:
                raise failure from None
            raise


def _generator(seed: int, purpose: str) -> torch.Generator:
    """A loader's own generator: creating its iterator draws a base seed, which must not come from the global one."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


def build_train_loader(cfg: Any, data: Sequence, transform: Optional[Callable], seed: int, rank: int = 0,
                       world_size: int = 1) -> DataLoader:
    """The training loader: this process's share of every global batch (module docstring)."""
    sampler_name = cfg.DATALOADER.TRAIN_X.SAMPLER
    if sampler_name not in SHUFFLING_SAMPLERS + ORDERED_SAMPLERS:
        raise InputError(f"DATALOADER.TRAIN_X.SAMPLER {sampler_name!r} is not supported by the hierarchical trainers; "
                         f"expected one of {list(SHUFFLING_SAMPLERS + ORDERED_SAMPLERS)}")
    batch_sampler = GlobalBatchSampler(len(data), int(cfg.DATALOADER.TRAIN_X.BATCH_SIZE), seed,
                                       shuffle=sampler_name in SHUFFLING_SAMPLERS, drop_last=True,
                                       rank=rank, world_size=world_size)
    return DataLoader(
        SeededSampleWrapper(cfg, data, transform=transform, is_train=True),
        batch_sampler=batch_sampler,
        num_workers=int(cfg.DATALOADER.NUM_WORKERS),
        pin_memory=torch.cuda.is_available() and bool(cfg.USE_CUDA),
        generator=_generator(seed, "train loader"),
    )


def build_eval_loader(cfg: Any, data: Sequence, transform: Optional[Callable], rank: int = 0,
                      world_size: int = 1) -> DataLoader:
    """A val/test loader over this rank's shard (every sample once over all ranks; file order within a rank)."""
    return DataLoader(
        SeededSampleWrapper(cfg, data, transform=transform, is_train=False),
        batch_size=int(cfg.DATALOADER.TEST.BATCH_SIZE),
        sampler=ShardSampler(len(data), rank, world_size),
        num_workers=int(cfg.DATALOADER.NUM_WORKERS),
        drop_last=False,
        pin_memory=torch.cuda.is_available() and bool(cfg.USE_CUDA),
        generator=_generator(0, "eval loader"),
    )
