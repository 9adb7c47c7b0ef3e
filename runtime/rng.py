"""Random-number state: capture and restore all of it, keep cache work away from it, derive seeds.

Two runs with the same seed give the same numbers only if every draw from the global
generators (Python's ``random``, numpy, torch CPU and CUDA) happens in the same order.
Work whose amount depends on what a cache holds (computing prototypes, generating the
embedded dataset, pre-training the tiny CLIP) therefore runs inside :func:`isolated_rng`,
and a checkpoint stores :func:`capture_rng_state` so that a resumed run continues the
exact sequence.
"""
from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Any, Iterator

import numpy as np
import torch


def capture_rng_state() -> dict[str, Any]:
    """The state of every global generator (CUDA only when it is initialised)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def isolated_rng() -> Iterator[None]:
    """Run a block without advancing any global generator (the block itself sees the current state)."""
    saved = capture_rng_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:  # fork_rng restored torch's generators; Python's and numpy's are put back here
        random.setstate(saved["python"])
        np.random.set_state(saved["numpy"])


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed that is a function of ``parts`` only (e.g. run seed, purpose, epoch, position)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed Python, numpy and torch (CPU) for a block, then restore the caller's state.

    The data loader wraps every training sample's augmentation in this, so an image's
    augmentation depends on (run seed, epoch, position in the epoch) alone: not on the
    number of processes, data-loader workers, or what ran before.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % (1 << 32))
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
