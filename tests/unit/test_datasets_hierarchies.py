"""The shipped hierarchy files, the documented dataset tables, and every dataset's config and templates."""
from __future__ import annotations

import glob
import os.path as osp
import re

import pytest
from run_helpers import REPO

import hgclip.datasets  # noqa: F401  (registers every dataset)
from hgclip.config import extend_cfg
from hgclip.datasets.base import HIERARCHIES_DIR
from hgclip.datasets.templates import load_level_templates
from hgclip.hierarchy import load_hierarchy, parse_hierarchy_text
from hgclip.runtime.dassl_api import DATASET_REGISTRY, get_cfg_default

SHIPPED = sorted(glob.glob(osp.join(HIERARCHIES_DIR, "*.txt")))
DATASETS_PAGE = osp.join(REPO, "docs", "guide", "datasets.md")
SIZES = re.compile(r"^\d+( / \d+)+")


def project_datasets() -> set[str]:
    """The datasets this project registers (other tests may register their own)."""
    return {name for name in DATASET_REGISTRY.registered_names()
            if DATASET_REGISTRY.get(name).__module__.startswith("hgclip.datasets.")
            and DATASET_REGISTRY.get(name).__name__ == name}  # the table names, not the Hier* plugin names


def table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row starts with ``first_header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def sizes_of(cell: str) -> tuple[int, ...]:
    match = SIZES.match(cell)
    assert match, f"no 'a / b' level sizes at the start of {cell!r}"
    return tuple(int(part) for part in match.group(0).split(" / "))


@pytest.mark.parametrize("path", SHIPPED, ids=osp.basename)
def test_shipped_hierarchy_file_passes_the_validator(path):
    hierarchy = load_hierarchy(path)  # the validator: header, depth, one parent per node, no duplicate leaf
    text = open(path, encoding="utf-8").read()
    assert text.startswith("#"), "every shipped file starts with a header saying where it comes from"
    assert parse_hierarchy_text(hierarchy.to_text()) == hierarchy


def test_documented_dataset_table_matches_the_shipped_files():
    rows = table_rows(open(DATASETS_PAGE, encoding="utf-8").read(), "`DATASET.NAME`")
    header_files = {}
    for name, config, levels, sizes, _, hierarchy_file, _ in rows:
        name = name.strip("`")
        assert name in DATASET_REGISTRY.registered_names(), name
        assert osp.isfile(osp.join(REPO, "configs", "datasets", config.strip("`"))), config
        if re.fullmatch(r"`[\w.]+\.txt`", hierarchy_file):
            hierarchy = load_hierarchy(osp.join(HIERARCHIES_DIR, hierarchy_file.strip("`")))
            assert sizes_of(sizes) == hierarchy.level_sizes, name
            assert tuple(level.strip() for level in levels.split(">")) == hierarchy.level_names, name
            header_files[name] = hierarchy_file.strip("`")
    assert project_datasets() == {row[0].strip("`") for row in rows}
    for name, hierarchy_file in header_files.items():  # the page names the file the dataset loads
        assert getattr(DATASET_REGISTRY.get(name), "hierarchy_file", hierarchy_file) == hierarchy_file


def test_hierarchies_readme_lists_every_shipped_file_with_its_sizes():
    rows = table_rows(open(osp.join(HIERARCHIES_DIR, "README.md"), encoding="utf-8").read(), "File")
    listed = {row[0].strip("`"): row for row in rows}
    assert sorted(listed) == sorted(osp.basename(path) for path in SHIPPED)
    for filename, (_, _, levels, sizes, _) in listed.items():
        hierarchy = load_hierarchy(osp.join(HIERARCHIES_DIR, filename))
        assert sizes_of(sizes) == hierarchy.level_sizes, filename
        if hierarchy.any_depth:  # levels are the depths: "any (depths <shallowest leaf>-<deepest leaf>)"
            depths = [level + 1 for level in hierarchy.leaf_levels]
            assert levels == f"any (depths {min(depths)}-{max(depths)})", filename
            continue
        assert tuple(level.strip() for level in levels.split(">")) == hierarchy.level_names, filename


@pytest.mark.parametrize("path", sorted(glob.glob(osp.join(REPO, "configs", "datasets", "*.yaml"))), ids=osp.basename)
def test_every_dataset_config_merges_and_names_a_registered_dataset(path):
    cfg = extend_cfg(get_cfg_default())
    cfg.merge_from_file(path)
    assert cfg.DATASET.NAME in DATASET_REGISTRY.registered_names()


@pytest.mark.parametrize("name", sorted(project_datasets() - {"HierImageFolder", "HierConfigDataset"}))
def test_every_named_dataset_has_a_config_and_templates(name):
    configs = [path for path in glob.glob(osp.join(REPO, "configs", "datasets", "*.yaml"))
               if re.search(rf'^\s*NAME: "{name}"', open(path).read(), flags=re.M)]
    assert configs, f"no configs/datasets/*.yaml selects {name}"
    templates = osp.join(REPO, "configs", "templates", f"{name}.json")
    assert osp.isfile(templates), templates
    hierarchy = parse_hierarchy_text("levels: coarse > fine\na > b\n")
    assert load_level_templates(templates, hierarchy)[0]


def test_official_trees_keep_their_documented_facts():
    """Counts stated in the headers that a wrong transcription would break."""
    fruits = load_hierarchy(osp.join(HIERARCHIES_DIR, "fruits360.txt"))
    kinds = fruits.names_at_level(1)
    self_parents = [path for path in fruits.paths if path[1] == path[2]]
    assert len([kind for kind in kinds if kind in fruits.leaf_names]) == 59 and len(self_parents) == 59
    corrected = load_hierarchy(osp.join(HIERARCHIES_DIR, "fruits360_corrected.txt"))
    assert not set(corrected.names_at_level(1)) & set(corrected.leaf_names)
    assert corrected.leaf_names == fruits.leaf_names
    assert [p[0] for p in corrected.paths] == [p[0] for p in fruits.paths]  # the top level is the official one
    caltech = load_hierarchy(osp.join(HIERARCHIES_DIR, "caltech101.txt"))
    assert caltech.paths[caltech.leaf_names.index("faces easy")] == ("human anatomy", "facial features", "faces easy")
    cars = load_hierarchy(osp.join(HIERARCHIES_DIR, "stanford_cars.txt"))
    per_type = {name: 0 for name in cars.names_at_level(0)}
    for path in cars.paths:
        per_type[path[0]] += 1
    assert per_type == {"Cab": 18, "Convertible": 26, "Coupe": 34, "Hatchback": 13, "Minivan": 7, "Sedan": 50, "SUV": 35,
                        "Van": 6, "Wagon": 7}  # Chang et al.'s Cars_name.xlsx
