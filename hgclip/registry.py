"""The registered trainers: Dassl's ``TRAINER_REGISTRY`` is the one list every script, test and table reads.

A trainer class of this project declares two facts about itself:

* ``TABLE_ORDER``: its column in the paper's Table 1 (ZeroshotCLIP, CoOp, CoCoOp, VPT,
  MaPLe, KgCoOp, PromptSRC, IVLP, HGCLIP); trainers without one come after, in the order
  they were registered;
* ``HAS_PARAMETERS``: whether it has anything to train (``ZeroshotCLIP`` has not).

Two names per baseline:

* the *plugin name* (``HierCoOp``, ``HierMaPLe``, ...; ``HGCLIP`` is unique as it is) is
  registered when the trainer module is imported (:func:`register_trainer`). It can never
  collide with the ``CoOp``/``MaPLe``/... that a CoOp, MaPLe or PromptSRC checkout registers,
  so ``import hgclip.plugin`` is safe inside such a checkout, in any import order;
* the *table name* (``CoOp``, ``MaPLe``, ...: the class name) is registered by
  :func:`register_table_names`, which this repository's own ``train.py`` and scripts call.

:func:`list_trainers` returns one name per trainer class (the table name when it is
registered), in table order. A trainer registered by anyone, in any way (e.g. a test's
throwaway ``@TRAINER_REGISTRY.register()`` class), is listed as soon as it subclasses
:class:`~hgclip.trainers.base.HierarchicalCLIPTrainer`, so it gets every contract check.
"""
from __future__ import annotations

from typing import Any, Optional

from hgclip.dassl_compat import TRAINER_REGISTRY

PLUGIN_PREFIX = "Hier"
UNORDERED = 10**6  # TABLE_ORDER of a trainer that does not declare one


def plugin_name(cls: type) -> str:
    """``HierCoOp`` for ``CoOp``; a name that already says "hierarchical" (``HGCLIP``) is kept."""
    name = cls.__name__
    return name if name.startswith(("HG", PLUGIN_PREFIX)) else PLUGIN_PREFIX + name


def _register_as(name: str, cls: type) -> None:
    """Register ``cls`` under ``name`` (idempotent for the same class).

    Dassl's ``register()`` always uses ``cls.__name__``; a second name needs the registry's
    ``_do_register``, which Dassl (fvcore-style) and the built-in engine both provide.
    """
    if name in TRAINER_REGISTRY.registered_names():
        if TRAINER_REGISTRY.get(name) is cls:
            return
        raise KeyError(f'trainer name "{name}" is already registered by {TRAINER_REGISTRY.get(name)!r}, not {cls!r}')
    TRAINER_REGISTRY._do_register(name, cls, False)


def register_trainer(cls: type) -> type:
    """Class decorator of this project's trainers: register under the plugin name (see the module docstring)."""
    _register_as(plugin_name(cls), cls)
    return cls


def _project_trainer_classes() -> list[type]:
    from hgclip import trainers  # noqa: F401  (imports every trainer module, registering the plugin names)

    return [cls for cls in _unique_classes() if cls.__module__.startswith("hgclip.trainers.")]


def register_table_names() -> None:
    """Also register this project's trainers under their table names (``CoOp``, ``MaPLe``, ...).

    Called by this repository's ``train.py`` and scripts; never inside a CoOp/MaPLe checkout,
    whose own ``CoOp``/``MaPLe`` would collide.
    """
    for cls in _project_trainer_classes():
        _register_as(cls.__name__, cls)


def _unique_classes() -> list[type]:
    """Registered HierarchicalCLIPTrainer subclasses, one entry per class, in registration order."""
    from hgclip.trainers.base import HierarchicalCLIPTrainer

    seen: list[type] = []
    for name in TRAINER_REGISTRY.registered_names():
        cls = TRAINER_REGISTRY.get(name)
        if isinstance(cls, type) and issubclass(cls, HierarchicalCLIPTrainer) and cls not in seen:
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
