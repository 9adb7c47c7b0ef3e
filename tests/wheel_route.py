"""The installed route, step by step: build the wheel, check what it holds, install it into a fresh venv,
run console commands from an empty directory and check that they wrote only there.

Used by ``tests/e2e/test_wheel_route.py`` (a short run on the random tiny CLIP) and by ``.ci/wheel_route.sh``
(``python tests/wheel_route.py``: the main job, ``hgclip-base2new``, and a zero-shot ``hgclip-train``).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = "hgclip"
#: tracked folders that are not part of the package (the wheel must not hold them)
NOT_SHIPPED_DIRS = ("tests/", "docs/", "scripts/", ".ci/")
#: tracked root files that are packaging or project metadata, not modules or data of the package
NOT_SHIPPED_FILES = {"setup.py", "README.md", "LICENSE", "mkdocs.yml", "pyproject.toml", "pytest.ini",
                     "requirements.txt", ".gitignore", "MANIFEST.in"}
#: a quick ZeroshotCLIP evaluation on the embedded default (what the default test runs)
ZERO_SHOT = ["--root", "data", "--seed", "1", "--trainer", "ZeroshotCLIP", "--config", "tiny",
             "--dataset-config-file", "hiershapes", "--output-dir", "output/zeroshot", "--eval-only"]


def project_files(repo: str = REPO) -> list[str]:
    """The checkout's files as git sees them: tracked, plus untracked ones that are not ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return sorted(path for path in listed if osp.isfile(osp.join(repo, path)))


def expected_package_files(repo: str = REPO) -> set[str]:
    """What ``hgclip/`` in the wheel must hold: every project file but tests, docs, scripts and metadata."""
    return {path for path in project_files(repo)
            if not path.startswith(NOT_SHIPPED_DIRS) and path not in NOT_SHIPPED_FILES}


def export_tree(dest: str, repo: str = REPO) -> str:
    """Copy the project files into ``dest``: a build from there cannot pick up ``build/``, ``output/`` or caches."""
    for path in project_files(repo):
        target = osp.join(dest, path)
        os.makedirs(osp.dirname(target), exist_ok=True)
        shutil.copy2(osp.join(repo, path), target)
    return dest


def build_wheel(src: str, out_dir: str) -> str:
    """``pip wheel --no-deps`` of ``src`` (with the installed setuptools: offline, and fast); the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", out_dir, src], check=True)
    wheels = [name for name in os.listdir(out_dir) if name.endswith(".whl")]
    if len(wheels) != 1:
        raise RuntimeError(f"{out_dir}: expected one wheel, found {wheels}")
    return osp.join(out_dir, wheels[0])


def wheel_problems(wheel: str, repo: str = REPO) -> list[str]:
    """What is wrong with the wheel's file list: package files missing, anything else present."""
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]
    prefix = PACKAGE + "/"
    shipped = {name[len(prefix):] for name in names if name.startswith(prefix)}
    others = [name for name in names if not name.startswith(prefix) and ".dist-info/" not in name]
    expected = expected_package_files(repo)
    problems = [f"missing from the wheel: {prefix}{path}" for path in sorted(expected - shipped)]
    problems += [f"not part of the package: {prefix}{path}" for path in sorted(shipped - expected)]
    problems += [f"outside the package: {name}" for name in others]
    return problems


def wheel_summary(wheel: str) -> str:
    """One line per top folder of the package: how many files of which kinds."""
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if name.startswith(PACKAGE + "/") and not name.endswith("/")]
    groups: dict[str, dict[str, int]] = {}
    for name in names:
        parts = name.split("/")
        top = parts[1] if len(parts) > 2 else "(root)"
        ext = osp.splitext(name)[1] or "(none)"
        groups.setdefault(top, {}).setdefault(ext, 0)
        groups[top][ext] += 1
    lines = [f"{osp.basename(wheel)}: {len(names)} files in {PACKAGE}/"]
    for top in sorted(groups):
        kinds = ", ".join(f"{count} {ext}" for ext, count in sorted(groups[top].items()))
        lines.append(f"  {top}: {kinds}")
    return "\n".join(lines)


def make_venv(venv: str, wheel: str) -> str:
    """A venv that reuses the system's packages (torch, ...) with the wheel installed in it; its ``bin`` folder.

    ``--force-reinstall --no-deps``: pip would otherwise take the same version installed in the system's
    site-packages (an editable checkout, say) as already there. ``pip check`` then says the wheel's
    requirements are met.
    """
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    bin_dir = osp.join(venv, "bin")
    python = osp.join(bin_dir, "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--force-reinstall",
                    "--disable-pip-version-check", wheel], check=True)
    return bin_dir


def venv_env(bin_dir: str, home_cache: Optional[str] = None) -> dict:
    """The environment a user of the venv has: its ``bin`` first, no PYTHONPATH (which would shadow the wheel)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = osp.dirname(bin_dir)
    env.setdefault("PYTHONWARNINGS", "ignore")
    if home_cache is not None:
        env["HGCLIP_CACHE"] = home_cache
    return env


def site_packages(bin_dir: str) -> str:
    """The venv's own site-packages (purelib)."""
    return subprocess.run([osp.join(bin_dir, "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def imported_from(bin_dir: str, cwd: str, env: dict) -> str:
    """Where the venv's python imports ``hgclip`` from, run in ``cwd``."""
    return subprocess.run([osp.join(bin_dir, "python"), "-c", "import hgclip; print(hgclip.__file__)"], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def listing(folder: str) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: relative path -> (size, mtime in ns)."""
    found = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = osp.join(directory, name)
            info = os.lstat(path)
            found[osp.relpath(path, folder)] = (info.st_size, info.st_mtime_ns)
    return found


def changed(before: dict, after: dict) -> list[str]:
    """Files added, removed or modified between two listings."""
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def mode_problems(folder: str, mode: int = 0o644) -> list[str]:
    """Files under ``folder`` whose permission bits are not ``mode`` (what ``umask 022`` gives a new file)."""
    bad = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = osp.join(directory, name)
            bits = stat.S_IMODE(os.lstat(path).st_mode)
            if bits != mode:
                bad.append(f"{oct(bits)[2:]} {osp.relpath(path, folder)}")
    return sorted(bad)


def run_command(command: Sequence[str], cwd: str, env: dict, timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run an installed console command in ``cwd`` under ``umask 022``, output captured; raise with its tail on failure."""
    def umask() -> None:
        os.umask(0o022)

    result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                            preexec_fn=umask)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", default="", help="do the work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--quick", action="store_true",
                        help="hgclip-base2new on the random tiny CLIP, 1 epoch (no pre-trained tiny CLIP needed)")
    ns = parser.parse_args(argv)
    start = time.monotonic()
    work = osp.abspath(ns.keep) if ns.keep else tempfile.mkdtemp(prefix="hgclip-wheel-route-")
    os.makedirs(work, exist_ok=True)
    failures: list[str] = []

    def step(text: str) -> None:
        print(f"[wheel route {time.monotonic() - start:5.0f}s] {text}", flush=True)

    try:
        step("build the wheel from the project files")
        wheel = build_wheel(export_tree(osp.join(work, "src")), osp.join(work, "dist"))
        print(wheel_summary(wheel))
        failures += wheel_problems(wheel)

        step("install it into a fresh venv (--system-site-packages)")
        bin_dir = make_venv(osp.join(work, "venv"), wheel)
        run_dir = osp.join(work, "empty")
        os.makedirs(run_dir)
        env = venv_env(bin_dir)
        site = site_packages(bin_dir)
        location = imported_from(bin_dir, run_dir, env)
        print(f"hgclip imports from {location}")
        if not location.startswith(site + os.sep):
            failures.append(f"hgclip imports from {location}, not from the venv's {site}")
        checkout_before = listing(REPO) if ns.keep == "" else {}
        site_before = listing(site)

        main_job = ["hgclip-base2new", "--trainer", "HGCLIP"]
        if ns.quick:
            main_job += ["--shots", "2", "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1"]
        for command in (main_job, ["hgclip-train", *ZERO_SHOT]):
            step(f"in an empty folder: {' '.join(command)}")
            result = run_command(command, run_dir, env)
            print("\n".join(result.stdout.strip().splitlines()[-8:]))

        step("check what the runs wrote")
        outside = sorted(set(os.listdir(run_dir)) - {"data", "output"})
        if outside:
            failures.append(f"the runs wrote {outside} into the working folder (expected data/ and output/ only)")
        failures += [f"written into site-packages: {path}" for path in changed(site_before, listing(site))]
        if checkout_before:
            failures += [f"written into the checkout: {path}" for path in changed(checkout_before, listing(REPO))
                         if "__pycache__" not in path and not path.startswith(".git" + os.sep)]
        failures += [f"not 0644 under umask 022: {line}" for line in mode_problems(run_dir)]
    finally:
        if not ns.keep:
            shutil.rmtree(work, ignore_errors=True)
    step("done" if not failures else f"{len(failures)} problem(s)")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
