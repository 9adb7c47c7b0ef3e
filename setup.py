"""HGCLIP for Dassl: hierarchical prompt learning with CLIP, as a Dassl-style plugin.

Install for development (recommended, runs from the repository root like CoOp/MaPLe):

    pip install -r requirements.txt

The top-level ``datasets/`` folder is installed as ``hgclip_datasets`` so that it never
shadows HuggingFace ``datasets`` in site-packages; from the repository root it is
imported as ``datasets``, as in CoOp/MaPLe.
"""
from setuptools import find_packages, setup

TOP_LEVEL = ["minidassl", "hierarchy", "backbones", "embedded", "evaluation", "trainers"]
PACKAGES = find_packages(include=[name for top in TOP_LEVEL for name in (top, f"{top}.*")])

setup(
    name="hgclip-dassl",
    version="0.1.0",
    description="HGCLIP (COLING 2025) for hierarchical visual recognition with CLIP, as a Dassl-style plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=PACKAGES + ["hgclip_datasets"],
    package_dir={"hgclip_datasets": "datasets"},
    py_modules=["dassl_compat", "config_defaults"],
    package_data={"embedded": ["*.json"], "hgclip_datasets": ["hierarchies/*.txt", "hierarchies/*.md", "class_lists/*.txt"]},
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
