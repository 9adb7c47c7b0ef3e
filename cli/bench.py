"""Every speed claim of the project, measured in one process on the same inputs.

    python -m hgclip.cli.bench [--backbone ViT-B/16] [--batch 4] [--nodes 120] [--json out.json]
                               [--markdown out.md] [--quick]

Random CLIP towers with the backbone's published architecture (no weights needed),
fp32, warm-up + median over repeats (see ``benchmarks/measure.py``). Sections:

* ``text_speedup``: HGCLIP's prompted text encoder forward+backward on every path --
  padded to the context (77), truncated to the last EOT (the previous path), shared
  prefix only, length packing only, and both (``fast``, this project's path) -- on
  the 120 CIFAR-100 names (``benchmarks/data``) and on ETHEC-like binomials
  (723 nodes, scaled by ``--nodes``/120), with the max abs difference of the
  features and of the prompt gradients against the padded path;
* ``per_trainer_step``: one training step (loss, backward, SGD) of every registered trainer;
* ``floor_ratio``: HGCLIP step / (text encoder fwd+bwd + prompted image encoder fwd+bwd);
* ``hgclip_vs_maple``, ``peak_mem_vs_maple``: HGCLIP / MaPLe step time and peak memory;
* ``official_ratio``: the official formulation's step (``benchmarks/official.py``) / ours, per batch size;
* ``eval_vs_image_encoder``: HGCLIP evaluation images/s / the bare image encoder's;
* ``scaling``: HGCLIP step time on synthetic 3-level hierarchies.

``--quick`` (under 3 minutes on 2 cores) uses 2-layer towers, one warm-up and one timed
run per measurement and smaller sizes: it checks that everything runs and agrees; its
ratios are indicative only (the graph encoders do not shrink with the towers), the
full run gives the numbers.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from ..benchmarks.report import print_tables, write_markdown
from ..benchmarks.suite import (
    Setup,
    bench_eval,
    bench_official,
    bench_scaling,
    bench_text,
    bench_trainers,
    depth_overrides,
    memory_note,
)
from ..benchmarks.trainer_steps import bench_cfg, registered_trainers
from ..benchmarks.workloads import (
    ETHEC_SIZES,
    backbone_dims,
    cifar100_hierarchy,
    ethec_like_hierarchy,
    random_tower,
    synthetic_hierarchy,
)
from ..common.fileio import atomic_write_json

QUICK = {"layers": 2, "repeats": 1, "binomial_nodes": 120, "official_batches": "4,8", "eval_batches": 2,
         "scaling": "120,500,1000,1500"}


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="ViT-B/16", help="ViT-B/16, ViT-B/32, ViT-L/14 or tiny (random weights)")
    p.add_argument("--batch", type=int, default=4, help="training batch size")
    p.add_argument("--nodes", type=int, default=120,
                   help="hierarchy size of the step sections: 120 = CIFAR-100's real tree, else a synthetic one")
    p.add_argument("--json", default="", help="write the results here (atomically)")
    p.add_argument("--markdown", default="",
                   help="also write the tables as a Markdown page (e.g. docs/benchmarks/<name>.md)")
    p.add_argument("--quick", action="store_true", help="small and fast (under 3 minutes on 2 cores)")
    p.add_argument("--layers", type=int, default=None, help="cap both towers' depth (quick: 4; 0 = the backbone's)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (quick: 1, else 3)")
    p.add_argument("--binomial-nodes", type=int, default=None, help="ETHEC-like nodes (default 723 * nodes / 120)")
    p.add_argument("--official-batches", type=_ints, default=None, help="batch sizes of official_ratio (4,32)")
    p.add_argument("--eval-batch", type=int, default=None, help="evaluation batch size (default: --batch)")
    p.add_argument("--eval-batches", type=int, default=None,
                   help="batches per evaluation pass (quick: 2, else 25: a pass of 100 images at batch 4)")
    p.add_argument("--scaling", type=_ints, default=None, help="node counts of the scaling section")
    p.add_argument("--trainers", default="", help="comma-separated trainers (default: every registered one)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on ``--quick``."""
    quick = QUICK if args.quick else {}
    if args.layers is None:
        args.layers = quick.get("layers", 0)
    if args.repeats is None:
        args.repeats = quick.get("repeats", 3)
    if args.binomial_nodes is None:
        args.binomial_nodes = quick.get("binomial_nodes", round(sum(ETHEC_SIZES) * args.nodes / 120))
    if args.official_batches is None:
        args.official_batches = _ints(quick.get("official_batches", f"{args.batch},32"))
    if args.eval_batch is None:
        args.eval_batch = args.batch
    if args.eval_batches is None:
        args.eval_batches = quick.get("eval_batches", 25)
    if args.scaling is None:
        args.scaling = _ints(quick.get("scaling", "120,500,1000,1500"))
    for name in ("batch", "nodes", "repeats", "binomial_nodes", "eval_batch", "eval_batches"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    dims = backbone_dims(args.backbone, args.layers)
    clip_model = random_tower(dims, args.seed).to(device)
    layers = min(dims.vision_layers, dims.transformer_layers)
    setup = Setup(clip_model, device, args.repeats, slow_s=10.0, budget_s=15.0 if args.quick else 60.0,
                  opts=depth_overrides(bench_cfg(), layers), seed=args.seed)
    step_hierarchy = cifar100_hierarchy() if args.nodes == 120 else synthetic_hierarchy(args.nodes, args.seed)
    trainers = [t for t in args.trainers.split(",") if t] or registered_trainers()
    for required in ("HGCLIP", "MaPLe"):
        if required not in trainers:
            trainers.append(required)
    started = time.perf_counter()
    out: dict = {"setup": {
        "backbone": args.backbone, "architecture": dims.__dict__, "weights": "random (seeded)", "precision": "fp32",
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "quick": args.quick, "repeats": args.repeats,
        "batch": args.batch, "step_hierarchy": f"{step_hierarchy} ({step_hierarchy.num_nodes} nodes)",
        "timing": f"one warm-up run, then the median of the timed runs; a run over {setup.slow_s:g} s is its own "
                  f"warm-up, repeats stop after {setup.budget_s:g} s",
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }}

    log(f"text encoder: CIFAR-100 names, ETHEC-like binomials ({args.binomial_nodes} nodes)")
    binomials = ethec_like_hierarchy(args.binomial_nodes, args.seed)
    out["text_speedup"] = {
        "cifar100": bench_text(setup, list(cifar100_hierarchy().node_names), "CIFAR-100 (20 superclasses + 100 classes)"),
        "binomial": bench_text(setup, list(binomials.node_names), f"ETHEC-like binomials {binomials}"),
    }
    log("trainer steps: " + ", ".join(trainers))
    steps = bench_trainers(setup, step_hierarchy, args.batch, trainers)
    per = steps["per_trainer_step"]
    out["per_trainer_step"] = per
    floor = steps["floor"]
    out["floor_ratio"] = {"ratio": per["HGCLIP"]["ms"] / floor["sum_ms"], "hgclip_step_ms": per["HGCLIP"]["ms"], **floor}
    out["hgclip_vs_maple"] = per["HGCLIP"]["ms"] / per["MaPLe"]["ms"]
    out["peak_mem_vs_maple"] = {
        "ratio": per["HGCLIP"]["peak_bytes"] / per["MaPLe"]["peak_bytes"],
        "hgclip_bytes": per["HGCLIP"]["peak_bytes"], "maple_bytes": per["MaPLe"]["peak_bytes"],
        "method": memory_note(device),
    }
    log(f"official formulation, batches {args.official_batches}")
    out["official_ratio"] = bench_official(setup, step_hierarchy, args.official_batches)
    log(f"evaluation: {args.eval_batches} batches of {args.eval_batch}")
    out["eval_vs_image_encoder"] = bench_eval(setup, step_hierarchy, args.eval_batch, args.eval_batches)
    log(f"scaling: {args.scaling} nodes")
    out["scaling"] = bench_scaling(setup, args.scaling, args.batch)
    out["setup"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    out["setup"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return out


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def main(argv: list | None = None) -> dict:
    args = resolve(build_parser().parse_args(argv))
    out = run(args)
    print_tables(out)
    if args.json:
        atomic_write_json(args.json, out)
        print(f"\nwrote {args.json}")
    if args.markdown:
        write_markdown(out, args.markdown)
        print(f"wrote {args.markdown}")
    return out


if __name__ == "__main__":
    main()
