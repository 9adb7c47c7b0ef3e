"""Benchmark: the time to write ``report.html`` for a 1,000-node hierarchy and 50,000 test samples.

What is timed is what ``TEST.HTML_REPORT`` adds to an evaluation once the evaluator has its
numbers: the per-node accuracies, the most confused pairs of every level with their lowest common
ancestor, the example thumbnails, the page itself and its atomic write. Two settings, in one run:

* ``with images``: the samples carry image paths (as with ``TEST.SAVE_PREDICTIONS``), so up to
  4 thumbnails per confused pair are decoded from JPEGs of 320x240 pixels (generated once under
  ``--root``; 10 pairs x 4 levels);
* ``without images``: no image paths, the page alone.

The hierarchy is :mod:`.bench_metrics`'s synthetic 4-level tree (10/40/150/800 nodes) and the
logits carry signal, so every level has right and wrong samples. Usage::

    python -m hgclip.benchmarks.bench_html_report [--samples 50000] [--repeats 3] [--threads 2] [--root DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from typing import Optional

import numpy as np
import torch

from ..common.fileio import atomic_write_text
from ..evaluation import Hierarchical
from ..evaluation.html_page import render_page
from ..evaluation.html_report import run_report_data
from ..evaluation.run_report import results_payload
from ..evaluation.scores import Scores
from .bench_metrics import synthetic_batches, synthetic_hierarchy

NUM_IMAGES = 256  # distinct files the samples point to in turn (a thumbnail is made once per file)
IMAGE_SIZE = (320, 240)


def make_images(root: str, count: int = NUM_IMAGES) -> list[str]:
    """``count`` noise JPEGs under ``root`` (written once); returns their paths."""
    from PIL import Image

    folder = os.path.join(root, "bench_html_images")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(0)
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"{index:03d}.jpg")
        if not os.path.isfile(path):
            pixels = rng.randint(0, 255, (IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def evaluated_scores(samples: int, images: Optional[list[str]], batch_size: int = 500) -> Scores:
    """The evaluator's numbers for ``samples`` synthetic samples on the 1,000-node tree (not timed)."""
    h = synthetic_hierarchy()
    evaluator = Hierarchical(None, hierarchy=h, tree_metrics=False)
    evaluator.save_predictions = images is not None  # keeps each sample's image path, as TEST.SAVE_PREDICTIONS
    evaluator.reset()
    done = 0
    for logits, labels in synthetic_batches(h, samples, batch_size):
        paths = None if images is None else [images[(done + i) % len(images)] for i in range(labels.shape[0])]
        evaluator.process(logits, labels, impaths=paths)
        done += labels.shape[0]
    return evaluator.compute()


def write_report(scores: Scores, path: str) -> dict:
    """Write the page as the evaluator does; returns its size and thumbnail count."""
    payload = results_payload(None, scores, "test", "independent")
    impaths = scores.samples.impaths if scores.samples is not None else None
    data = run_report_data(payload, scores.layout, scores.class_names, scores.preds, scores.targets, impaths=impaths)
    text = render_page(data)
    atomic_write_text(path, text)
    return {"bytes": len(text.encode("utf-8")), "thumbnails": len(data["images"]), "nodes": len(data["tree"]["names"])}


def time_report(samples: int = 50_000, repeats: int = 3, root: str = "") -> dict:
    """Best-of-``repeats`` seconds to write the report, with and without example images, plus what was written."""
    root = root or tempfile.gettempdir()
    settings = {"with images": evaluated_scores(samples, make_images(root)), "without images": evaluated_scores(samples, None)}
    out = os.path.join(root, "bench_report.html")
    results = {}
    for name, scores in settings.items():
        times, info = [], {}
        for _ in range(repeats):
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                info = write_report(scores, out)
            times.append(time.perf_counter() - start)
        results[name] = dict(info, seconds=min(times), samples=int(scores.preds.shape[0]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed writes per setting (the best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--root", default="", help="where the test images and the page are written (default: the temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = time_report(args.samples, args.repeats, args.root)
    print(f"report.html, {args.samples:,} samples, {args.threads} thread(s), best of {args.repeats}")
    for name, row in results.items():
        print(f"{name:15s}: {row['seconds']:6.3f} s  ({row['nodes']:,} nodes, {row['thumbnails']} thumbnails, "
              f"{row['bytes'] / 1024:,.0f} KiB)")


if __name__ == "__main__":
    main()
