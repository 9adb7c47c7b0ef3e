"""HGCLIP for Dassl: hierarchical prompt learning with CLIP, as a Dassl-style plugin.

The repository root is the package ``hgclip`` (its ``__init__.py`` is at the root), so the
repository keeps CoOp's layout (``trainers/ datasets/ hierarchy/ configs/ scripts/``) and every
import inside the package is relative, which editors and static tools follow to the real file.
Install for development with ``pip install -r requirements.txt`` (= the pinned dependencies +
``pip install -e .``).
"""
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

NOT_PACKAGES = ("tests", "tests.*", "docs", "docs.*", "scripts", "scripts.*", "build", "build.*")
NOT_MODULES = {"setup"}  # the root holds setup.py, which is not part of the package


class BuildPackage(build_py):
    """The root is a package: leave ``setup.py`` out of the built package."""

    def find_package_modules(self, package, package_dir):  # noqa: ANN001, D102
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == "hgclip" and m[1] in NOT_MODULES)]


SUBPACKAGES = find_packages(where=".", exclude=NOT_PACKAGES)

setup(
    name="hgclip-dassl",
    version="0.2.0",
    description="HGCLIP (COLING 2025) for hierarchical visual recognition with CLIP, as a Dassl-style plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=["hgclip", *(f"hgclip.{name}" for name in SUBPACKAGES)],
    package_dir={"hgclip": "."},
    cmdclass={"build_py": BuildPackage},
    package_data={
        "hgclip": ["configs/*.yaml", "configs/*/*.yaml", "configs/*/*.json", "configs/*/*/*.yaml",
                   "configs/*/*/*.json"],
        "hgclip.embedded": ["*.json"],
        "hgclip.datasets": ["hierarchies/*.txt", "hierarchies/*.md", "class_lists/*.txt"],
        "hgclip.benchmarks": ["data/*.txt"],
    },
    entry_points={"console_scripts": [
        "hgclip-train = hgclip.cli:train_command",
        "hgclip-base2new = hgclip.cli:base2new_command",
        "hgclip-compare = hgclip.cli:compare_command",
        "hgclip-decoders = hgclip.cli:decoders_command",
        "hgclip-xd = hgclip.cli:xd_command",
        "hgclip-parse-test-res = hgclip.cli:parse_test_res_command",
        "hgclip-bench = hgclip.cli:bench_command",
        "hgclip-torchrun = hgclip.cli.launch:launch_command",
        "hgclip-config = hgclip.cli:config_command",
        "hgclip-sweep = hgclip.cli.sweep:sweep_command",
    ]},
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
        "submitit>=1.5",
    ],
    extras_require={"test": ["pytest>=7"], "dev": ["pytest>=7", "ruff", "mkdocs"]},
)
