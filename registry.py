"""The registered trainers (and datasets): Dassl's registries are the one list every script, test and table reads.

A trainer class of this project declares the facts about itself:

* ``TABLE_ORDER``: its column in the paper's Table 1 (ZeroshotCLIP, CoOp, CoCoOp, VPT,
  MaPLe, KgCoOp, PromptSRC, IVLP, HGCLIP); trainers without one come after, in the order
  they were registered;
* ``HAS_PARAMETERS``: whether it has anything to train (``ZeroshotCLIP`` has not);
* ``CFG_KEY`` and the classmethod ``config_section()``: its config section ``TRAINER.<CFG_KEY>``,
  every key with its default and help text (a tuple of :class:`~hgclip.common.config_schema.Key`;
  a plain ``CfgNode`` of defaults also works, without help) (:func:`trainer_sections`, read by
  ``hgclip.config.extend_cfg``), so a new trainer is two files, its trainer and its model, with no
  edit anywhere else.

A trainer outside this package is registered by importing its file
(:func:`import_trainer_module`, what ``train.py --trainer-module FILE`` and the tests'
``pytest --trainer-module FILE`` call) before the config is built.

Two names per baseline (and per dataset: ``HierFGVCAircraft``/``FGVCAircraft``, ...; ``HierShapes``
and ``HierImageFolder`` already say it):

* the *plugin name* (``HierCoOp``, ``HierMaPLe``, ...; ``HGCLIP`` is unique as it is) is
  registered when the trainer module is imported (:func:`register_trainer`). It can never
  collide with the ``CoOp``/``MaPLe``/... that a CoOp, MaPLe or PromptSRC checkout registers,
  so ``import hgclip.plugin`` is safe inside such a checkout, in any import order;
* the *table name* (``CoOp``, ``MaPLe``, ...: the class name) is registered by
  :func:`register_table_names`, which this repository's own ``train.py`` and scripts call.

:func:`list_trainers` returns one name per trainer class (the table name when it is
registered), in table order. A trainer registered by anyone, in any way (e.g. a test's
throwaway ``@TRAINER_REGISTRY.register()`` class), is listed as soon as it subclasses
:class:`~hgclip.engine.trainer.HierarchicalCLIPTrainer` (whose ``HIERARCHICAL_TRAINER`` is True: this
module sits below the life cycle and asks the class, not its base), so it gets every contract check.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any, NamedTuple, Optional

from .common.config_schema import Key, build, undocumented
from .runtime.dassl_api import DATASET_REGISTRY, TRAINER_REGISTRY

PLUGIN_PREFIX = "Hier"
UNORDERED = 10**6  # TABLE_ORDER of a trainer that does not declare one


def plugin_name(cls: type) -> str:
    """``HierCoOp`` for ``CoOp``; a name that already says "hierarchical" (``HGCLIP``) is kept."""
    name = cls.__name__
    return name if name.startswith(("HG", PLUGIN_PREFIX)) else PLUGIN_PREFIX + name


def _register_as(name: str, cls: type, registry: Any = TRAINER_REGISTRY, replace_dassl_builtin: bool = False) -> None:
    """Register ``cls`` under ``name`` (idempotent for the same class).

    Dassl's ``register()`` always uses ``cls.__name__``; a second name needs the registry's
    ``_do_register``, which Dassl (fvcore-style) and the built-in engine both provide.
    ``replace_dassl_builtin``: a name taken by one of Dassl's own classes (its flat
    semi-supervised ``CIFAR100``) is taken over, with a note.
    """
    if name in registry.registered_names():
        existing = registry.get(name)
        if existing is cls:
            return
        if not (replace_dassl_builtin and getattr(existing, "__module__", "").startswith("dassl.")):
            raise KeyError(f'"{name}" is already registered by {existing!r}, not {cls!r}')
        print(f"Note: {cls.__module__}.{cls.__name__} replaces Dassl's {existing.__module__}.{name} "
              f"as DATASET.NAME {name}")
        registry._do_register(name, cls, True)
        return
    registry._do_register(name, cls, False)


def register_trainer(cls: type) -> type:
    """Class decorator of this project's trainers: register under the plugin name (see the module docstring)."""
    _register_as(plugin_name(cls), cls)
    return cls


def register_dataset(cls: type) -> type:
    """Class decorator of this project's datasets: register under the plugin name (``Hier<Name>``)."""
    _register_as(plugin_name(cls), cls, DATASET_REGISTRY)
    return cls


def _project_classes(registry: Any, package: str) -> list[type]:
    seen: list[type] = []
    for name in registry.registered_names():
        cls = registry.get(name)
        if isinstance(cls, type) and cls.__module__.startswith(package) and cls not in seen:
            seen.append(cls)
    return seen


def register_table_names() -> None:
    """Also register this project's trainers and datasets under their table names (``CoOp``, ``FGVCAircraft``, ...).

    Called by this repository's ``train.py`` and scripts; never inside a CoOp/MaPLe checkout,
    whose own ``CoOp``/``MaPLe``/``FGVCAircraft`` would collide. Only classes already registered are
    named (importing their modules registers them: ``hgclip.project`` does both).
    """
    for cls in _project_classes(TRAINER_REGISTRY, "hgclip.trainers."):
        _register_as(cls.__name__, cls)
    for cls in _project_classes(DATASET_REGISTRY, "hgclip.datasets."):
        _register_as(cls.__name__, cls, DATASET_REGISTRY, replace_dassl_builtin=True)


def _unique_classes() -> list[type]:
    """Registered HierarchicalCLIPTrainer subclasses, one entry per class, in registration order."""
    seen: list[type] = []
    for name in TRAINER_REGISTRY.registered_names():
        cls = TRAINER_REGISTRY.get(name)
        if isinstance(cls, type) and getattr(cls, "HIERARCHICAL_TRAINER", False) is True and cls not in seen:
            seen.append(cls)
    return seen


def display_name(cls: type) -> str:
    """The name a trainer class is listed under: its table name when registered, else its first registered name."""
    names = [n for n in TRAINER_REGISTRY.registered_names() if TRAINER_REGISTRY.get(n) is cls]
    if not names:
        raise KeyError(f"{cls.__name__} is not registered in TRAINER_REGISTRY")
    return cls.__name__ if cls.__name__ in names else names[0]


def list_trainers(trainable: Optional[bool] = None) -> list[str]:
    """Names of the registered hierarchical trainers in table order (``trainable``: only those with/without parameters)."""
    classes = _unique_classes()
    order = {cls: (getattr(cls, "TABLE_ORDER", UNORDERED), index) for index, cls in enumerate(classes)}
    classes.sort(key=order.__getitem__)
    if trainable is not None:
        classes = [cls for cls in classes if bool(getattr(cls, "HAS_PARAMETERS", True)) == trainable]
    return [display_name(cls) for cls in classes]


def trainer_class(name: str) -> Any:
    """The registered trainer class named ``name`` (a one-line error lists the registered names)."""
    if name not in TRAINER_REGISTRY.registered_names():
        raise KeyError(f"trainer {name!r} is not registered; registered: {', '.join(list_trainers())}")
    return TRAINER_REGISTRY.get(name)


def has_parameters(name: str) -> bool:
    """Whether the trainer registered as ``name`` has anything to train (unknown names: assumed yes)."""
    if name not in TRAINER_REGISTRY.registered_names():
        return True
    return bool(getattr(TRAINER_REGISTRY.get(name), "HAS_PARAMETERS", True))


class TrainerSection(NamedTuple):
    """A registered trainer's config section ``TRAINER.<key>``, as its ``config_section()`` declares it."""

    key: str
    node: Any  # a fresh yacs CfgNode with every default
    trainer: type  # the (first registered) class that declares it
    keys: tuple[Key, ...]  # the declarations, names relative to the section (help "" for a plain CfgNode)


def trainer_sections() -> list[TrainerSection]:
    """The config section of every registered trainer that declares one, in registration order.

    A section declared by two classes (a subclass inherits its parent's) is added once; two
    different declarations of one ``TRAINER.<key>`` are an error naming both classes.
    """
    sections: dict[str, TrainerSection] = {}
    for cls in _unique_classes():
        declare = getattr(cls, "config_section", None)
        if declare is None:
            continue
        key = str(getattr(cls, "CFG_KEY", "") or cls.__name__.upper())
        declared = declare()
        if isinstance(declared, dict):  # a plain CfgNode of defaults
            node, keys = declared, undocumented(declared)
        else:
            keys = tuple(declared)
            node = build(keys)
        if key in sections:
            if node != sections[key].node:
                raise KeyError(f"TRAINER.{key} is declared differently by {sections[key].trainer.__qualname__} and "
                               f"{cls.__qualname__}; expected one config_section() per CFG_KEY")
            continue
        sections[key] = TrainerSection(key, node, cls, keys)
    return list(sections.values())


def import_trainer_module(spec: str) -> ModuleType:
    """Import a file (``path/to/my_trainer.py``) or module (``mypackage.my_trainer``) that registers trainers.

    A file is imported under its own name (``my_trainer``), so a file given before it (its model,
    ``--trainer-module my_model.py --trainer-module my_trainer.py``) is importable by name from it.

    Raises:
        FileNotFoundError: ``spec`` ends with ``.py`` but is not a file.
        ImportError: the module cannot be imported, or another module already has the file's name.
    """
    if not spec.endswith(".py"):
        return importlib.import_module(spec)
    path = os.path.abspath(spec)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--trainer-module {spec}: file not found; expected a Python file that registers trainers")
    name = os.path.splitext(os.path.basename(path))[0]
    loaded = sys.modules.get(name)
    if loaded is not None:
        if os.path.abspath(getattr(loaded, "__file__", "") or "") == path:
            return loaded
        raise ImportError(f"--trainer-module {spec}: a module named {name!r} is already imported "
                          f"({getattr(loaded, '__file__', 'built in')}); rename the file")
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"--trainer-module {spec}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
