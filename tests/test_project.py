"""Project-level promises: packaging, the README's commands and its list of config keys."""
from __future__ import annotations

import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def read(name: str) -> str:
    with open(osp.join(REPO, name), encoding="utf-8") as handle:
        return handle.read()


def project_keys() -> list[str]:
    """Every config key that extend_cfg adds to (or changes in) Dassl's defaults."""
    from config_defaults import extend_cfg
    from dassl_compat import get_cfg_default

    def flat(node, prefix=""):
        out = {}
        for key, value in node.items():
            if hasattr(value, "items"):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    base, extended = flat(get_cfg_default()), flat(extend_cfg(get_cfg_default()))
    return [key for key, value in extended.items() if key not in base or base[key] != value]


def test_readme_documents_every_added_config_key():
    readme = read("README.md")
    missing = []
    for key in project_keys():
        parent, leaf = key.rsplit(".", 1)
        generic = re.sub(r"^TRAINER\.[A-Z]+\.", "TRAINER.<NAME>.", key)
        if key in readme or generic in readme or (parent in readme and leaf in readme):
            continue
        missing.append(key)
    assert not missing, f"README does not document: {missing}"


def test_ci_runs_the_readme_test_command():
    readme, ci = read("README.md"), read(".ci/run")
    commands = re.findall(r"^(pip install -r requirements.txt && .+)$", readme, flags=re.M)
    assert len(commands) == 2, commands
    main_command, test_command = commands
    assert "bash scripts/hgclip/base2new.sh" in main_command
    assert test_command in ci.splitlines()


def test_datasets_folder_is_not_installed_as_top_level_datasets(distribution):
    """HuggingFace's ``datasets`` keeps its name in site-packages; ours installs as ``hgclip_datasets``."""
    packages = distribution.packages
    assert "datasets" not in packages and not any(p.startswith("datasets.") for p in packages)
    assert "hgclip_datasets" in packages and distribution.package_dir["hgclip_datasets"] == "datasets"
    for package in ("trainers", "hierarchy", "evaluation", "minidassl", "backbones", "embedded"):
        assert package in packages


def test_dataset_modules_import_each_other_relatively():
    """So that the folder works both as ``datasets`` (repo root) and ``hgclip_datasets`` (installed)."""
    import glob

    for path in glob.glob(osp.join(REPO, "datasets", "*.py")):
        assert not re.search(r"^\s*(from|import) datasets\b", read(osp.relpath(path, REPO)), flags=re.M), path


@pytest.fixture
def distribution():
    import os
    import sys
    from distutils.core import run_setup  # setuptools' vendored distutils

    saved_path, old_cwd = list(sys.path), os.getcwd()
    os.chdir(REPO)
    try:
        return run_setup("setup.py", stop_after="init")
    finally:
        os.chdir(old_cwd)
        sys.path[:] = saved_path
