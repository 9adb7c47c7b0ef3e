"""Project-level promises: packaging, the README's commands, the documentation's key list and layout table."""
from __future__ import annotations

import os.path as osp
import re

import pytest
from run_helpers import REPO

CONFIG_PAGE = "docs/reference/config.md"
LAYOUT_PAGE = "docs/development/layout.md"
README_MAX_BYTES = 15_000


def read(name: str) -> str:
    with open(osp.join(REPO, name), encoding="utf-8") as handle:
        return handle.read()


def project_keys() -> list[str]:
    """Every config key that extend_cfg adds to (or changes in) Dassl's defaults."""
    from hgclip.config import extend_cfg
    from hgclip.runtime.dassl_api import get_cfg_default

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


def test_config_page_is_rendered_from_the_declarations():
    """``docs/reference/config.md`` is the rendering of the key declarations; every key has help text."""
    from hgclip.cli.config_docs import docs_path, main, render_docs
    from hgclip.project import config_keys

    assert osp.samefile(docs_path(), osp.join(REPO, CONFIG_PAGE))
    assert read(CONFIG_PAGE) == render_docs(), "run: python -m hgclip.cli.config_docs --write"
    assert main(["--check"]) == 0
    assert all(key.help for key in config_keys()), [key.key for key in config_keys() if not key.help]


def test_docs_document_every_added_config_key():
    """Independently of the renderer: every key extend_cfg adds to Dassl's defaults is on the page."""
    page = read(CONFIG_PAGE)
    missing = []
    for key in project_keys():
        parent, _, leaf = key.rpartition(".")  # a top-level key (OVERWRITE_OUTPUT_DIR) has no parent
        generic = re.sub(r"^TRAINER\.[A-Z]+\.", "TRAINER.<NAME>.", key)
        if key in page or generic in page or (parent in page and leaf in page):
            continue
        missing.append(key)
    assert not missing, f"{CONFIG_PAGE} does not document: {missing}"


def test_ci_runs_the_readme_test_command():
    readme, ci = read("README.md"), read(".ci/run")
    commands = re.findall(r"^(pip install -r requirements.txt && .+)$", readme, flags=re.M)
    assert len(commands) == 2, commands
    main_command, test_command = commands
    assert "bash scripts/hgclip/base2new.sh" in main_command
    assert test_command in ci.splitlines()


def test_everything_installs_under_one_import_name(distribution):
    """No top-level ``trainers``, ``datasets``, ``clip``, ...: a CoOp/MaPLe checkout's own modules and
    HuggingFace's ``datasets`` keep their names. The repository root is the package ``hgclip``."""
    packages = distribution.packages
    assert all(p == "hgclip" or p.startswith("hgclip.") for p in packages), packages
    assert not distribution.py_modules
    assert distribution.package_dir == {"hgclip": "."}
    for folder in ("trainers", "datasets", "hierarchy", "evaluation", "engine", "backbones", "embedded", "models", "cli"):
        assert f"hgclip.{folder}" in packages, folder
    assert not any(p.startswith(("hgclip.tests", "hgclip.docs", "hgclip.scripts")) for p in packages), packages


def test_imports_inside_the_package_are_relative_and_the_path_is_never_edited():
    """Editors and static tools resolve a relative import to its file; ``hgclip.x`` needs the install."""
    offenders = {}
    for path, text in project_sources().items():
        if path in ("setup.py", "train.py", "parse_test_res.py"):
            continue
        code = re.sub(r'"""[\s\S]*?"""', "", text)  # docstrings show absolute names to users
        found = _imports(code, r"hgclip(?:\.\w+)*")
        found += re.findall(r"sys\.path\.(?:insert|append)|__path__", code)
        if found:
            offenders[path] = found
    assert not offenders, f"use relative imports inside the package, and no sys.path/__path__ edits: {offenders}"


def test_console_commands_point_at_existing_functions(distribution):
    import importlib

    for entry in distribution.entry_points["console_scripts"]:
        name, target = (part.strip() for part in entry.split("="))
        module, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module), attribute)), entry


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


def project_sources() -> dict[str, str]:
    """Every Python file of the project (tests excluded), by path relative to the repository."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return {path: read(path) for path in listed if not path.startswith("tests/") and osp.isfile(osp.join(REPO, path))}


def _imports(text: str, pattern: str) -> list[str]:
    return re.findall(rf"^\s*(?:from|import)\s+({pattern})\b", text, flags=re.M)


def test_dassl_names_come_through_dassl_compat_only():
    """Only the built-in engine itself and runtime/dassl_api.py may import its modules (or dassl) directly."""
    offenders = {}
    for path, text in project_sources().items():
        if path.startswith("runtime/builtin/") or path == "runtime/dassl_api.py":
            continue
        found = _imports(text, r"(?:hgclip\.engine\.)?builtin|\.+builtin|dassl")
        if found:
            offenders[path] = found
    assert not offenders, f"import Dassl names from hgclip.runtime.dassl_api instead: {offenders}"


def test_modules_import_the_project_through_the_hgclip_package():
    """No top-level ``trainers``/``datasets``/``clip``/... import: inside a CoOp/MaPLe checkout those are the checkout's."""
    folders = r"trainers|datasets|hierarchy|backbones|models|evaluation|embedded|dassl_compat|config_defaults"
    offenders = {}
    for path, text in project_sources().items():
        found = _imports(text, folders)
        if path != "backbones/openai_clip.py":
            found += _imports(text, r"clip")
        if found:
            offenders[path] = found
    assert not offenders, f"use hgclip.<module> (and hgclip.backbones.openai_clip for CLIP): {offenders}"


def test_layout_page_matches_the_tree():
    """Every row of the documented layout table exists, and every folder of the repository has a row."""
    import subprocess

    page = read(LAYOUT_PAGE)
    listed = set(re.findall(r"^\| `([^`]+)` \|", page, flags=re.M))
    for path in listed:
        assert osp.exists(osp.join(REPO, path.rstrip("/"))), f"{LAYOUT_PAGE} lists {path}, which does not exist"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    folders = {path.split("/")[0] + "/" for path in tracked if "/" in path and not path.startswith(".")}
    missing = folders - listed
    assert not missing, f"folders without a row in {LAYOUT_PAGE}: {sorted(missing)}"
    for package in ("cli", "engine", "common", "hierarchy", "datasets", "backbones", "models", "trainers",
                    "evaluation", "embedded", "benchmarks"):
        assert f"| `{package}/` | `hgclip.{package}` |" in page, package


def test_readme_is_a_door():
    """The README stays short and links only into the repository; the rest lives in docs/."""
    readme = read("README.md")
    assert len(readme.encode("utf-8")) <= README_MAX_BYTES
    targets = re.findall(r"\]\(([^)]+)\)", readme)
    assert targets
    for target in targets:
        assert "://" not in target, f"README links outside the repository: {target}"
        assert osp.exists(osp.join(REPO, target.split("#")[0])), f"README links a missing file: {target}"


def test_docs_link_nothing_outside_the_repository():
    import glob

    for path in glob.glob(osp.join(REPO, "docs", "**", "*.md"), recursive=True):
        text = read(osp.relpath(path, REPO))
        assert not re.search(r"https?://", text), f"{path} links outside the repository"
