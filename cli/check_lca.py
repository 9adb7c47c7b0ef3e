"""Reproduce Making Better Mistakes' LCA distances on its own tree (issue 25).

Bertinetto et al. publish, beside each ``<name>_isa.txt`` tree (``parent child`` WordNet ids), the
distance of every pair of nodes in ``<name>_ilsvrc_distances.txt.xz`` (``id id distance`` per line): the
height of the pair's lowest common ancestor. This reads the tree with this project's edge-list loader
(``format: edges``) and compares ``Hierarchy.lca_height_matrix()`` with the published distance of every
pair of leaves (or ``--pairs N`` sampled ones)::

    python -m hgclip.cli.check_lca datasets/hierarchies/mbm_imagenet.txt imagenet_ilsvrc_distances.txt.xz

The tree may be MBM's ``data/imagenet_isa.txt`` as published or the shipped copy; the distances file is
``data/imagenet_ilsvrc_distances.txt.xz`` of github.com/fiveai/making-better-mistakes. Prints the number of pairs
compared, how many agree, and the first disagreements.
"""
from __future__ import annotations

import argparse
import lzma
import random
import sys

from ..hierarchy import parse_hierarchy_text


def read_text(path: str) -> str:
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("isa", help="the tree: <name>_isa.txt (parent child per line) or a hierarchy file (format: edges)")
    parser.add_argument("distances", help="<name>_ilsvrc_distances.txt(.xz): id id distance per line")
    parser.add_argument("--pairs", type=int, default=0, help="compare this many sampled leaf pairs (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    text = read_text(args.isa)
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    tree = parse_hierarchy_text(text if first.startswith("format") else "format: edges\n" + text, args.isa)
    leaf_of = {name: index for index, name in enumerate(tree.leaf_names)}
    published = {}
    for line in read_text(args.distances).splitlines():
        a, b, distance = line.split()
        if a in leaf_of and b in leaf_of:
            published[leaf_of[a], leaf_of[b]] = int(distance)
    pairs = sorted(published)
    if args.pairs:
        pairs = random.Random(args.seed).sample(pairs, min(args.pairs, len(pairs)))
    ours = tree.lca_height_matrix()
    wrong = [(a, b) for a, b in pairs if int(ours[a, b]) != published[a, b]]
    depths = sorted(set(tree.leaf_levels))
    print(f"{args.isa}: {tree.num_leaves} leaves at depths {depths[0] + 1}-{depths[-1] + 1}, {tree.num_nodes} nodes")
    print(f"compared {len(pairs)} leaf pairs with {args.distances}: {len(pairs) - len(wrong)} agree, {len(wrong)} differ")
    for a, b in wrong[:10]:
        print(f"  {tree.leaf_names[a]} {tree.leaf_names[b]}: ours {int(ours[a, b])}, published {published[a, b]}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
