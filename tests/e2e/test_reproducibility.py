"""Same seed, same numbers, whatever the caches hold; a changed image never reuses stale prototypes."""
from __future__ import annotations

import os
import os.path as osp
import time

from run_helpers import check_ok, metrics, results, run_train, train_args


def test_empty_and_full_caches_give_identical_results(baseline_run, tmp_path):
    # the baseline ran first on a fresh dataset copy: it computed the prototypes and drew the few-shot split
    assert "Computing node prototypes" in baseline_run["stdout"]
    assert "Saving the few-shot split" in baseline_run["stdout"]
    out = str(tmp_path / "again")
    stdout = check_ok(run_train(train_args(baseline_run["root"], out)))
    assert "Loaded node prototypes" in stdout and "Computing node prototypes" not in stdout
    assert "Loading the few-shot split" in stdout
    assert metrics(results(out)) == metrics(results(baseline_run["dir"]))


def test_a_replaced_image_changes_the_prototype_cache_key(tmp_path):
    from hgclip.datasets.fingerprint import listing_fingerprint
    from hgclip.runtime.dassl_api import Datum

    image = tmp_path / "a.png"
    image.write_bytes(b"first version")
    items = [Datum(impath=str(image), label=0, classname="a")]
    before = listing_fingerprint(items, root=str(tmp_path), file_stats=True)
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) == before
    image.write_bytes(b"the second version")  # replaced in place: same path and label
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) != before
    same_size = listing_fingerprint(items, root=str(tmp_path), file_stats=True)
    later = time.time() + 5
    image.write_bytes(b"the third  version")  # same size, newer modification time
    os.utime(image, (later, later))
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) != same_size
    assert osp.isfile(image)
