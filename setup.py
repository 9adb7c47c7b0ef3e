"""HGCLIP for Dassl: hierarchical prompt learning with CLIP, as a Dassl-style plugin.

Install for development (recommended; runs from the repository root like CoOp/MaPLe):

    pip install -r requirements.txt          # = the pinned dependencies + pip install -e .

Everything installs under the single import name ``hgclip``. The repository keeps CoOp's
layout (``trainers/ datasets/ hierarchy/ ...`` at the root); each of those folders is
mapped to ``hgclip.<folder>`` here, so a CoOp/MaPLe checkout's own ``trainers``,
``datasets`` and vendored ``clip`` never collide with this project's modules.
The ``configs/`` folder ships as package data (``hgclip/configs``).
"""
from setuptools import find_packages, setup

SUBPACKAGES = ["hierarchy", "datasets", "backbones", "models", "trainers", "evaluation", "embedded", "minidassl"]


def mapped_packages() -> tuple[list[str], dict[str, str]]:
    """``hgclip`` plus every sub-package of the root folders, and where each lives."""
    packages, package_dir = ["hgclip", "hgclip.configs"], {"hgclip": "hgclip", "hgclip.configs": "configs"}
    for folder in SUBPACKAGES:
        for found in [folder, *(f"{folder}.{sub}" for sub in find_packages(where=folder))]:
            packages.append(f"hgclip.{found}")
            package_dir[f"hgclip.{found}"] = found.replace(".", "/")
    return packages, package_dir


PACKAGES, PACKAGE_DIR = mapped_packages()

setup(
    name="hgclip-dassl",
    version="0.2.0",
    description="HGCLIP (COLING 2025) for hierarchical visual recognition with CLIP, as a Dassl-style plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={
        "hgclip": ["*.yaml"],
        "hgclip.configs": ["*/*.yaml", "*/*.json", "*/*/*.yaml", "*/*/*.txt", "*/*/*.json"],
        "hgclip.embedded": ["*.json"],
        "hgclip.datasets": ["hierarchies/*.txt", "hierarchies/*.md", "class_lists/*.txt"],
    },
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "openai-clip>=1.0.1",
        "setuptools<81",  # openai-clip imports pkg_resources
        "torch_geometric>=2.4",
        "yacs>=0.1.8",
        "tabulate>=0.9",
        "tqdm>=4.60",
        "tensorboard>=2.10",
        "numpy>=1.23",
        "pillow>=9.0",
        "matplotlib>=3.6",
    ],
    extras_require={"test": ["pytest>=7"]},
)
