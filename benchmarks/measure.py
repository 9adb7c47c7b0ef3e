"""Timing (warm-up + median over repeats) and peak memory of one callable.

Timing: one warm-up run, then ``repeats`` timed runs; the median is reported.
A run slower than ``slow_s`` is its own warm-up (first-touch effects are a
negligible part of it) and counts as a sample, and repeats stop once the timed
runs add up to ``budget_s`` -- so the 77-token baselines on 700 prompts do not
take minutes each. Every result says how many runs it is the median of.

Things that are compared with each other are timed *interleaved*
(:func:`measure_group`): round after round, each runs once, in an order that
rotates, so that a change in the machine's load (other processes on shared
cores) hits both sides of a ratio alike instead of one of them.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` minus the memory
allocated before the call; on the CPU the profiler's allocator events
(``torch.profiler`` with ``profile_memory=True``): the running sum of the bytes
allocated and freed during the call, whose maximum is the peak of what the
call adds to what was already allocated (weights, buffers, cached features).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Timing:
    median_s: float
    runs: int
    times_s: list = field(default_factory=list)

    @property
    def ms(self) -> float:
        return self.median_s * 1e3

    def as_dict(self) -> dict:
        return {"ms": round(self.ms, 3), "runs": self.runs}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def measure_group(fns: dict, device: torch.device, repeats: int = 3, slow_s: float = 10.0,
                  budget_s: float = 60.0) -> dict:
    """``{name: Timing}`` for callables timed interleaved (see the module docstring)."""
    names = list(fns)
    times: dict = {}
    for name in names:  # warm-up round
        first = _timed(fns[name], device)
        times[name] = [first] if first >= slow_s else []

    def wants(name: str) -> bool:
        done = times[name]
        return len(done) < max(1, repeats) and not (done and sum(done) >= budget_s)

    round_index = 0
    while any(wants(n) for n in names):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if wants(name):
                times[name].append(_timed(fns[name], device))
        round_index += 1
    return {name: Timing(statistics.median(t), len(t), t) for name, t in times.items()}


def measure(fn: Callable[[], object], device: torch.device, repeats: int = 3, slow_s: float = 10.0,
            budget_s: float = 60.0) -> Timing:
    """Median wall time of ``fn()`` (see the module docstring for the warm-up rule)."""
    return measure_group({"fn": fn}, device, repeats, slow_s, budget_s)["fn"]


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated by ``fn()`` on top of what was allocated before it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return int(peak)


def memory_method(device: torch.device) -> str:
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated minus the memory allocated before the step"
    return ("torch.profiler (profile_memory=True) allocator events: peak of the bytes allocated minus freed "
            "during the step, on top of the weights and buffers allocated before it")
