"""Name -> class registries, so that a config string selects a class."""
from __future__ import annotations

from typing import Any, Callable, Optional


class Registry:
    """A name -> object map filled by the ``@REGISTRY.register()`` decorator.

    Objects are registered under their ``__name__``; a second object with the
    same name raises ``KeyError`` unless ``force=True``.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._obj_map: dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any, force: bool) -> None:
        if name in self._obj_map and not force:
            raise KeyError(f'An object named "{name}" was already registered in the "{self._name}" registry')
        self._obj_map[name] = obj

    def register(self, obj: Any = None, force: bool = False) -> Optional[Callable[[Any], Any]]:
        """Register ``obj``; without ``obj``, return a decorator that registers its target."""
        if obj is None:
            def decorator(target: Any) -> Any:
                self._do_register(target.__name__, target, force)
                return target

            return decorator
        self._do_register(obj.__name__, obj, force)
        return None

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise KeyError(
                f'Object name "{name}" does not exist in the "{self._name}" registry '
                f"(registered: {sorted(self._obj_map)})"
            )
        return self._obj_map[name]

    def registered_names(self) -> list[str]:
        return list(self._obj_map.keys())

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def __repr__(self) -> str:
        return f"Registry(name={self._name!r}, names={self.registered_names()})"
