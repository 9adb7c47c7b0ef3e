"""listing_fingerprint: the one hash of split listings (few-shot cache, prototype cache key, inputs.json)."""
from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace

from hgclip.datasets.fingerprint import listing_fingerprint


def _item(path: str, label: int, classname: str) -> SimpleNamespace:
    return SimpleNamespace(impath=path, label=label, classname=classname)


LISTING = [_item("/data/x/a/1.png", 0, "cat"), _item("/data/x/b/2.png", 1, "dog")]


def test_the_documented_definition_by_hand():
    expected = hashlib.sha256(b"a/1.png\t0\tcat\nb/2.png\t1\tdog\n--\n").hexdigest()
    assert listing_fingerprint(LISTING, root="/data/x") == expected
    as_given = hashlib.sha256(b"/data/x/a/1.png\t0\tcat\n/data/x/b/2.png\t1\tdog\n--\n").hexdigest()
    assert listing_fingerprint(LISTING) == as_given
    two = hashlib.sha256(b"a/1.png\t0\tcat\n--\nb/2.png\t1\tdog\n--\n").hexdigest()
    assert listing_fingerprint(LISTING[:1], LISTING[1:], root="/data/x") == two
    assert listing_fingerprint() == hashlib.sha256(b"").hexdigest()


def test_equal_listings_agree_and_any_change_differs():
    base = listing_fingerprint(LISTING, root="/data/x")
    copy = [_item(i.impath, i.label, i.classname) for i in LISTING]  # other objects, same listing
    assert listing_fingerprint(copy, root="/data/x") == base
    moved = [_item(i.impath.replace("/data/x", "/mnt/y"), i.label, i.classname) for i in LISTING]
    assert listing_fingerprint(moved, root="/mnt/y") == base  # a moved root keeps it
    changed = {
        "path": [_item("/data/x/a/3.png", 0, "cat"), LISTING[1]],
        "label": [_item("/data/x/a/1.png", 2, "cat"), LISTING[1]],
        "classname": [_item("/data/x/a/1.png", 0, "lynx"), LISTING[1]],
        "order": LISTING[::-1],
        "one item fewer": LISTING[:1],
    }
    for what, listing in changed.items():
        assert listing_fingerprint(listing, root="/data/x") != base, what
    # the same items split between listings differently: another value
    assert listing_fingerprint(LISTING, [], root="/data/x") != listing_fingerprint([], LISTING, root="/data/x")


def test_file_stats_follow_the_contents(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"first")
    items = [_item(str(image), 0, "a")]
    plain = listing_fingerprint(items, root=str(tmp_path))
    stat = os.stat(image)
    line = f"a.png\t0\ta\t{stat.st_size}\t{stat.st_mtime_ns}\n--\n".encode()
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) == hashlib.sha256(line).hexdigest()
    image.write_bytes(b"second version")  # replaced in place: only the file-stats value changes
    assert listing_fingerprint(items, root=str(tmp_path)) == plain
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) != hashlib.sha256(line).hexdigest()
    image.unlink()
    missing = hashlib.sha256(b"a.png\t0\ta\tmissing\n--\n").hexdigest()
    assert listing_fingerprint(items, root=str(tmp_path), file_stats=True) == missing
