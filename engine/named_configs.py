"""Which YAML file a trainer runs with, by role (``tiny``, ``base2new``, ``paper``) or by name: declared once.

Each trainer class declares its named configs next to its code::

    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_ep50", "paper": "vit_b16_ep50_paper"}

(role -> config name). The files stay ``configs/trainers/<TableName>/<name>.yaml`` inside the installed
package, because a CoOp/MaPLe checkout's own ``train.py`` takes ``--config-file PATH``. A trainer from
outside the package (``--trainer-module``) sets ``CONFIG_DIR`` (an absolute folder) or gives absolute
paths in ``CONFIGS``. ``train.py --config``, the base-to-new, cross-dataset and comparison tools and the
tests all ask :func:`trainer_config`; no other code builds a ``configs/trainers/...`` path.
"""
from __future__ import annotations

import os
from typing import Any

from ..common.errors import InputError
from ..common.paths import PACKAGE_ROOT, config_dir
from ..registry import trainer_class

#: The roles the tools ask for: the embedded default (HierShapes + tiny CLIP), the method's published
#: 16-shot ViT-B/16 base-to-new config (also the cross-dataset source's), and the HGCLIP paper's protocol.
ROLES = ("tiny", "base2new", "paper")
YAML = ".yaml"


def _owner(cls: type) -> type:
    """The class whose ``CONFIGS`` ``cls`` uses (itself, or the parent it inherits them from)."""
    return next((klass for klass in cls.__mro__ if vars(klass).get("CONFIGS")), cls)


def _declared(cls: type) -> dict[str, str]:
    return dict(getattr(cls, "CONFIGS", None) or {})


def config_folder(cls: type) -> str:
    """The trainer's config folder: ``CONFIG_DIR`` if it declares one, else ``configs/trainers/<class name>``
    of the installed package (the class that declares ``CONFIGS``: a subclass shares its parent's files)."""
    owner = _owner(cls)
    folder = vars(owner).get("CONFIG_DIR") or getattr(cls, "CONFIG_DIR", "")
    return str(folder) if folder else os.path.join(config_dir(), "trainers", owner.__name__)


def _path_of(folder: str, name: str) -> str:
    """``name`` as a file: absolute paths stay, names get ``<folder>/<name>.yaml``."""
    if os.path.isabs(name):
        return name
    return os.path.join(folder, name if name.endswith(YAML) else name + YAML)


def _stem(name: str) -> str:
    base = os.path.basename(name)
    return base[: -len(YAML)] if base.endswith(YAML) else base


def _is_path(name: str) -> bool:
    return os.sep in name or "/" in name


def package_file(path: str) -> str:
    """``path`` if it is a file; else, for a relative path, the package's file of that name (``configs/...``);
    else ``""``. Why: an installed package's configs are not under the current directory."""
    if os.path.isfile(path):
        return path
    if not os.path.isabs(path) and os.path.isfile(os.path.join(PACKAGE_ROOT, path)):
        return os.path.join(PACKAGE_ROOT, path)
    return ""


def dataset_config(name: str) -> str:
    """The YAML file of a dataset config: an existing file (as given), a name (``hiershapes``, with or without
    ``.yaml``: ``configs/datasets/<name>.yaml`` of the package), or a relative path into the package.

    Raises:
        InputError: neither (one line listing the package's dataset config names).
    """
    found = package_file(name)
    if found:
        return found
    folder = os.path.join(config_dir(), "datasets")
    if not _is_path(name):
        path = os.path.join(folder, _stem(name) + YAML)
        if os.path.isfile(path):
            return path
    names = sorted(_stem(f) for f in os.listdir(folder) if f.endswith(YAML)) if os.path.isdir(folder) else []
    raise InputError(f"dataset config {name!r}: no such file, nor a dataset config of the package ({folder}); "
                     f"expected a YAML file or one of {', '.join(names)}")


def _class(trainer: str) -> Any:
    try:
        return trainer_class(trainer)
    except KeyError as error:
        raise InputError(error.args[0]) from None


def list_trainer_configs(trainer: str) -> dict[str, str]:
    """Every config ``trainer`` can be run with: role or name -> YAML path (roles first, then the
    declared names and the other YAML files of its folder, by name)."""
    cls = _class(trainer)
    folder = config_folder(cls)
    declared = _declared(cls)
    found = {role: _path_of(folder, name) for role, name in declared.items()}
    names = {_stem(path): path for path in found.values()}
    if os.path.isdir(folder):
        names.update({_stem(f): os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(YAML)})
    for name in sorted(names):
        found.setdefault(name, names[name])
    return found


def trainer_config(trainer: str, name: str) -> str:
    """The YAML file of ``trainer``'s config ``name``: a role (``tiny``, ``base2new``, ``paper``), a config
    name (``tiny_hiershapes``, ``vit_b16_ep50_paper``, with or without ``.yaml``) or an existing file path.

    Raises:
        InputError: unknown trainer, unknown name, or a declared file that is missing (one line).
    """
    if _is_path(name):  # a path: no trainer needed (a checkout's, or one not registered yet)
        found = package_file(name)
        if not found:
            raise InputError(f"trainer {trainer}: config file {name} does not exist; expected a YAML file, a role "
                             f"({', '.join(ROLES)}) or a config name")
        return os.path.abspath(found)
    known = list_trainer_configs(trainer)
    if _stem(name) in known:
        path = known[_stem(name)]
        if not os.path.isfile(path):
            raise InputError(f"trainer {trainer}: config {name!r} is {path}, which does not exist")
        return path
    if os.path.isfile(name):
        return os.path.abspath(name)
    roles = [r for r in known if r in _declared(_class(trainer))]
    names = [n for n in known if n not in roles]
    raise InputError(f"trainer {trainer} has no config {name!r} (no such name or file); expected a role "
                     f"({', '.join(roles) or 'none declared'}), a name ({', '.join(names) or 'none'}) or a YAML path")
