"""The sections of ``cli/bench.py``; each returns a JSON-ready dict.

All sections run in one process on the same CLIP tower, hierarchy, images and
labels; see :mod:`benchmarks.measure` for the timing and memory rules.
"""
from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedTextEncoder
from ..backbones.text_fast_path import shared_prefix_length
from ..hierarchy import Hierarchy
from ..models import TextPromptLearner
from .measure import measure_group, memory_method, peak_memory_bytes
from .official import OfficialHGCLIP, OfficialStep, copy_into_official_mode
from .trainer_steps import build_step, registered_trainers, unit_prototypes
from .workloads import cifar100_hierarchy, synthetic_hierarchy

#: HGCLIP's text prompts (the paper's setting): 4 learned tokens in the first 9 layers, from "a photo of a".
TEXT_N_CTX, TEXT_DEPTH, TEXT_CTX_INIT = 4, 9, "a photo of a"


@dataclass
class Setup:
    """What every section shares."""

    clip_model: nn.Module
    device: torch.device
    repeats: int
    slow_s: float
    budget_s: float
    opts: list  # config overrides for every trainer (prompt depths capped to the tower)
    seed: int = 0

    def time(self, fns: dict) -> dict:
        """``{name: Timing}``, the callables timed interleaved (see :mod:`benchmarks.measure`)."""
        return measure_group(fns, self.device, self.repeats, self.slow_s, self.budget_s)

    def images(self, batch: int, seed: int = 1) -> tuple[Tensor, Tensor]:
        res = int(self.clip_model.visual.input_resolution)
        g = torch.Generator().manual_seed(seed)
        return torch.randn(batch, 3, res, res, generator=g).to(self.device), g

    def batch(self, hierarchy: Hierarchy, batch: int, seed: int = 1) -> tuple[Tensor, Tensor]:
        images, g = self.images(batch, seed)
        labels = torch.randint(0, hierarchy.num_leaves, (batch,), generator=g).to(self.device)
        return images, labels


def depth_overrides(cfg: Any, layers: int) -> list:
    """``KEY VALUE`` options capping every ``TRAINER.*.PROMPT_DEPTH*`` key at the tower's depth."""
    opts = []
    for trainer, node in cfg.TRAINER.items():
        if not hasattr(node, "items"):
            continue
        for key, value in node.items():
            if "PROMPT_DEPTH" in key and isinstance(value, int) and value > layers:
                opts += [f"TRAINER.{trainer}.{key}", layers]
    return opts


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


# ---------------------------------------------------------------------- text
def text_paths(clip_model: nn.Module) -> dict[str, PromptedTextEncoder]:
    """The text encoder's paths, slowest first; ``fast`` is this project's."""
    return {
        "padded": PromptedTextEncoder(clip_model, truncate=False),  # all positions of the context (77)
        "truncated": PromptedTextEncoder(clip_model),  # the previous path: up to the last EOT
        "shared_prefix": PromptedTextEncoder(clip_model, fast=True, pack=False),
        "length_packed": PromptedTextEncoder(clip_model, fast=True, share_prefix=False),
        "fast": PromptedTextEncoder(clip_model, fast=True),
    }


def token_counts(tokenized: Tensor, prefix: int, context: int) -> dict[str, int]:
    """Text positions each path runs through the transformer (per layer)."""
    eot = tokenized.argmax(-1)
    k = int(eot.shape[0])
    return {
        "padded": k * context,
        "truncated": k * (int(eot.max()) + 1),
        "fast": prefix + int((eot + 1 - prefix).sum()),
    }


def bench_text(setup: Setup, names: list[str], label: str, chunk_positions: int = 8192) -> dict:
    """Prompted text encoder forward+backward on ``names`` (HGCLIP's prompts) on every path.

    A path runs its prompts in chunks of at most ``chunk_positions`` positions (prompts x positions per prompt),
    with one backward per chunk: the same work, bounded memory (all 723 binomials padded to 77 positions need
    over 20 GB for autograd in one piece). The fast path's positions are its packed tokens.
    """
    model = setup.clip_model
    depth = min(TEXT_DEPTH, len(model.transformer.resblocks))
    learner = TextPromptLearner(model, names, TEXT_N_CTX, TEXT_CTX_INIT, depth).to(setup.device)
    out_dim = int(model.text_projection.shape[1])
    g = torch.Generator().manual_seed(setup.seed)
    weight = (torch.randn(len(names), out_dim, generator=g) / math.sqrt(len(names))).to(setup.device)
    with torch.no_grad():
        eot = learner.tokenized.argmax(-1).to(setup.device)
        prefix = shared_prefix_length(learner().unsqueeze(0), eot.unsqueeze(0), [], learner.shared_prefix_length)
    counts = token_counts(learner.tokenized, prefix, int(learner.tokenized.shape[1]))
    totals = {"padded": counts["padded"], "truncated": counts["truncated"], "shared_prefix": counts["truncated"],
                  "length_packed": counts["fast"], "fast": counts["fast"]}
    chunks = {name: max(1, min(len(names), chunk_positions * len(names) // max(1, n)))
              for name, n in totals.items()}

    def run(encoder: PromptedTextEncoder, chunk: int) -> tuple[Tensor, ...]:
        learner.zero_grad(set_to_none=True)
        prompts, outs = learner(), []
        for start in range(0, len(names), chunk):
            part = slice(start, start + chunk)
            out = encoder(prompts[part], learner.tokenized[part], learner.deep_prompts(),
                          shared_prefix=learner.shared_prefix_length)
            last = start + chunk >= len(names)
            (F.normalize(out.float(), dim=-1) * weight[part]).sum().backward(retain_graph=not last)
            outs.append(out.detach())
        grads = [learner.ctx.grad] + ([learner.deep_ctx.grad] if learner.deep_ctx is not None else [])
        return (torch.cat(outs), *[gr.detach().clone() for gr in grads])

    paths = text_paths(model)
    outputs = {name: run(encoder, chunks[name]) for name, encoder in paths.items()}
    timings = setup.time({name: (lambda e=encoder, c=chunks[name]: run(e, c)) for name, encoder in paths.items()})
    fast = timings["fast"].median_s
    reference = outputs["padded"]
    diffs = {}
    for name in paths:
        if name == "padded":
            continue
        parts = zip(("features", "grad_ctx", "grad_deep_ctx"), outputs[name], reference)
        diffs[name] = {}
        for part, a, b in parts:
            diffs[name][f"{part}_max_abs_diff"] = _max_diff(a, b)
            diffs[name][f"{part}_max_rel_diff"] = _max_diff(a, b) / max(float(b.float().abs().max()), 1e-12)
    result = {
        "names": label,
        "prompts": len(names),
        "context_length": int(learner.tokenized.shape[1]),
        "shared_prefix_positions": prefix,
        "positions_per_layer": counts,
        "prompts_per_chunk": chunks,
        "ms": {name: t.as_dict() for name, t in timings.items()},
        "speedup": timings["padded"].median_s / fast,
        "vs_truncation": timings["truncated"].median_s / fast,
        "max_abs_diff_vs_padded": diffs,
        "max_abs_diff": max(v for d in diffs.values() for k, v in d.items() if "abs" in k),
        "max_rel_diff": max(v for d in diffs.values() for k, v in d.items() if "rel" in k),
    }
    del learner, paths, outputs
    _free()
    return result


# ---------------------------------------------------------------------- trainer steps
def bench_trainers(setup: Setup, hierarchy: Hierarchy, batch: int, names: Optional[list] = None) -> dict:
    """Step time of every registered trainer (same CLIP, hierarchy, images, labels, timed interleaved),
    HGCLIP's floor (its two encoders alone) and the peak memory of the HGCLIP and MaPLe steps."""
    images, labels = setup.batch(hierarchy, batch)
    steps = {name: build_step(name, setup.clip_model, hierarchy, setup.device, setup.opts)
             for name in names or registered_trainers()}
    fns = {name: (lambda s=step: s.step(images, labels)) for name, step in steps.items()}
    floor_fns = _floor_parts(setup, steps["HGCLIP"], images) if "HGCLIP" in steps else {}
    timings = setup.time({**fns, **floor_fns})
    results = {name: {**timings[name].as_dict(),
                      "kind": "train step" if step.trainable else "inference (nothing to train)"}
               for name, step in steps.items()}
    for name in ("HGCLIP", "MaPLe"):
        if name in steps:
            results[name]["peak_bytes"] = peak_memory_bytes(fns[name], setup.device)
    extra = {}
    if floor_fns:
        text, image = timings["floor:text"], timings["floor:image"]
        extra["floor"] = {"text_fwd_bwd": text.as_dict(), "image_fwd_bwd": image.as_dict(),
                          "sum_ms": round(text.ms + image.ms, 3)}
    del steps, fns, floor_fns
    _free()
    return {"per_trainer_step": results, **extra}


def _floor_parts(setup: Setup, step: Any, images: Tensor) -> dict:
    """The two encoders HGCLIP cannot avoid, forward+backward into their prompts, each alone."""
    model = step.model
    dim = model.text_encoder.output_dim
    g = torch.Generator().manual_seed(setup.seed)
    w_text = torch.randn(model.learner.text_prompts.num_classes, dim, generator=g).to(setup.device)
    w_image = torch.randn(images.shape[0], dim, generator=g).to(setup.device)

    def text() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        (F.normalize(model.prompted_text_features(), dim=-1) * w_text).sum().backward()

    def image() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        (F.normalize(model.encode_images(images).float(), dim=-1) * w_image).sum().backward()

    return {"floor:text": text, "floor:image": image}


# ---------------------------------------------------------------------- official
def bench_official(setup: Setup, hierarchy: Hierarchy, batches: list[int]) -> dict:
    """The official formulation's step vs this project's HGCLIP step, per batch size, plus an equivalence check."""
    dim = int(setup.clip_model.text_projection.shape[1])
    prototypes = unit_prototypes(hierarchy, dim)
    depth = min(TEXT_DEPTH, len(setup.clip_model.transformer.resblocks))
    torch.manual_seed(setup.seed)
    official = OfficialHGCLIP(setup.clip_model, hierarchy, prototypes, depth=depth).to(setup.device)
    official_step = OfficialStep(official)
    ours = build_step("HGCLIP", setup.clip_model, hierarchy, setup.device, setup.opts, prototypes)
    result: dict[str, Any] = {}
    for batch in batches:
        images, labels = setup.batch(hierarchy, batch)
        timings = setup.time({"official": lambda: official_step.step(images, labels),
                              "ours": lambda: ours.step(images, labels)})
        t_official, t_ours = timings["official"], timings["ours"]
        result[f"batch_{batch}"] = {"official": t_official.as_dict(), "ours": t_ours.as_dict(),
                                    "ratio": t_official.median_s / t_ours.median_s}
        del images, labels
        _free()
    del official, official_step, ours
    _free()
    result["check"] = _official_equivalence(setup, depth)
    return result


def _official_equivalence(setup: Setup, depth: int) -> dict:
    """Logits of the official re-statement vs this project's ``MODE official`` with the same weights.

    On CIFAR-100's real names (``large_man-made_outdoor_things``, ``non-insect_invertebrates``), whatever
    hierarchy the timings use: the official code replaces only ``_`` in a name, and so must ``MODE official``.
    """
    hierarchy = cifar100_hierarchy()
    prototypes = unit_prototypes(hierarchy, int(setup.clip_model.text_projection.shape[1]))
    torch.manual_seed(setup.seed)
    official = OfficialHGCLIP(setup.clip_model, hierarchy, prototypes, depth=depth).to(setup.device)
    mode = build_step("HGCLIP", setup.clip_model, hierarchy, setup.device,
                      setup.opts + ["TRAINER.HGCLIP.MODE", "official"], prototypes).model
    copy_into_official_mode(official, mode)
    images, _ = setup.batch(hierarchy, 2, seed=7)
    official.eval(), mode.eval()
    with torch.no_grad():
        a, b = official(images), mode(images)
    scale = float(a.abs().max())
    del official, mode
    _free()
    return {
        "what": "official re-statement (77 tokens, 8-head GNNs, loop) vs HGCLIPModel MODE official (fast text, "
                "single-head GNNs, batched attention), same weights, 2 images, CIFAR-100's 120 real names",
        "logits_max_abs": scale,
        "logits_max_rel_diff": _max_diff(a, b) / max(scale, 1e-12),
    }


# ---------------------------------------------------------------------- evaluation
def bench_eval(setup: Setup, hierarchy: Hierarchy, batch: int, num_batches: int) -> dict:
    """HGCLIP evaluation images/s vs the bare image encoder's, same batches, under ``torch.inference_mode``.

    ``ratio``: one evaluation pass (text features, graph encoders and refined prototypes once, then every
    batch); ``per_batch_ratio``: the batches alone (what a long test set converges to).
    """
    step = build_step("HGCLIP", setup.clip_model, hierarchy, setup.device, setup.opts)
    model = step.model.eval()
    batches = [setup.images(batch, seed=100 + i)[0] for i in range(num_batches)]

    def hgclip_batches() -> None:
        with torch.inference_mode():
            for images in batches:
                model(images)

    def hgclip_pass() -> None:
        model.clear_cache()
        hgclip_batches()

    def encoder_pass() -> None:
        with torch.inference_mode():
            for images in batches:
                setup.clip_model.encode_image(images)

    timings = setup.time({"hgclip_pass": hgclip_pass, "hgclip_batches": hgclip_batches, "image_encoder": encoder_pass})
    t_pass, t_batches, t_encoder = timings["hgclip_pass"], timings["hgclip_batches"], timings["image_encoder"]
    images = batch * num_batches
    del step, model
    _free()
    return {
        "batch": batch, "batches": num_batches,
        "hgclip_images_per_s": images / t_pass.median_s, "image_encoder_images_per_s": images / t_encoder.median_s,
        "hgclip_pass": t_pass.as_dict(), "hgclip_batches": t_batches.as_dict(), "image_encoder": t_encoder.as_dict(),
        "ratio": t_encoder.median_s / t_pass.median_s,
        "per_batch_ratio": t_encoder.median_s / t_batches.median_s,
        # derived: the once-per-pass work (pass - batches) spread over a 10,000-image test set (CIFAR-100's)
        "ratio_10k_images_derived": (t_encoder.median_s / images) / (
            t_batches.median_s / images + max(0.0, t_pass.median_s - t_batches.median_s) / 10_000),
    }


# ---------------------------------------------------------------------- scaling
def bench_scaling(setup: Setup, sizes: list[int], batch: int) -> dict:
    """HGCLIP step time on synthetic 3-level hierarchies of ``sizes`` nodes."""
    steps, batches, nodes = {}, {}, {}
    for size in sizes:
        hierarchy = synthetic_hierarchy(size, seed=setup.seed)
        steps[size] = build_step("HGCLIP", setup.clip_model, hierarchy, setup.device, setup.opts)
        batches[size] = setup.batch(hierarchy, batch)
        nodes[size] = hierarchy.num_nodes
    timings = setup.time({size: (lambda s=step, b=batches[size]: s.step(*b)) for size, step in steps.items()})
    points = [{"nodes": nodes[size], **timings[size].as_dict()} for size in sizes]
    del steps, batches
    _free()
    base = points[0]
    for point in points:
        point["time_ratio"] = point["ms"] / base["ms"]
        point["node_ratio"] = point["nodes"] / base["nodes"]
    marginal = [(b["ms"] - a["ms"]) / (b["nodes"] - a["nodes"]) for a, b in zip(points, points[1:])]
    return {
        "points": points,
        "marginal_ms_per_node": marginal,
        "at_most_linear": all(p["time_ratio"] <= p["node_ratio"] for p in points),
    }


def memory_note(device: torch.device) -> str:
    return memory_method(device)
