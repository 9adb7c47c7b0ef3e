"""Merging config files and ``KEY VALUE`` options with one-line errors that name the file, line and key.

yacs reports a YAML syntax error as ``<unicode string>``, an unknown key without the file it
came from and a type mismatch as a Python repr; here each becomes
``<file>:<line>: ...`` / ``<file>: unknown config key X`` / ``<source>: X expects int, got 'abc'``.
"""
from __future__ import annotations

import difflib
import os
import re
from typing import Any, Sequence

import yaml

from .errors import InputError

_UNKNOWN_KEY = re.compile(r"Non-existent (?:config )?key: (\S+)")
_TYPE_MISMATCH = re.compile(
    r"Type mismatch \((.+?) vs\. (.+?)\) with values \((.*) vs\. (.*)\) for config key: (\S+)", re.S)


def _type_name(text: str) -> str:
    match = re.search(r"'([\w.]+)'", text)
    return match.group(1) if match else text


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"A.B.C": value}`` for a nested mapping (a yacs CfgNode or what YAML loads)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class DuplicateKeyError(yaml.YAMLError):
    """A key given twice in one YAML mapping (PyYAML would keep the last one without a word)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(f"key {key!r} is given twice (first on line {seen[key]}); give each key once",
                                        line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def explain_merge_error(error: BaseException, source: str, cfg: Any) -> InputError:
    """A yacs merge error as one line naming ``source`` (a file or ``command line``) and the key."""
    message = " ".join(str(error.args[0] if error.args else error).split())
    unknown = _UNKNOWN_KEY.search(message)
    if unknown:
        key = unknown.group(1)
        close = difflib.get_close_matches(key, list(flatten(cfg)), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return InputError(f"{source}: unknown config key {key}{hint}; expected a key of Dassl's defaults or "
                          "hgclip/config.py")
    mismatch = _TYPE_MISMATCH.search(message)
    if mismatch:
        expected, got, default, value, key = mismatch.groups()
        return InputError(f"{source}: config key {key} expects {_type_name(expected)} (its value so far: {default}), "
                          f"got {value} ({_type_name(got)})")
    return InputError(f"{source}: {message}")


def merge_config_file(cfg: Any, path: str) -> None:
    """``cfg.merge_from_file(path)`` with one-line errors (missing file, YAML syntax, unknown key, type)."""
    loaded = read_yaml_mapping(path)
    if not loaded:
        return
    try:
        cfg.merge_from_other_cfg(type(cfg)(loaded))
    except (KeyError, ValueError, AssertionError, TypeError) as error:
        raise explain_merge_error(error, path, cfg) from None


def read_yaml_mapping(path: str) -> dict:
    """The mapping of config keys in a YAML file ({} when empty), with one-line errors naming the file and line."""
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; expected a YAML config file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: config file not found")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a UTF-8 text file (byte {error.start}); expected a YAML config") from None
    try:
        loaded = yaml.load(text, Loader=_UniqueKeyLoader)
    except DuplicateKeyError as error:
        raise InputError(f"{path}:{error.line}: {error.message}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputError(f"{path}{line}: YAML syntax error: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: expected a YAML mapping of config keys, got a {type(loaded).__name__}")
    return loaded


def config_file_options(path: str) -> list[str]:
    """The ``KEY VALUE`` options of a YAML file of config keys (a compare variant, ``configs/variants/*.yaml``), for
    a ``train.py`` command line.

    Raises:
        InputError: the file cannot be read (YAML syntax, a key given twice, not a mapping): one line naming the
            file and line.
    """
    mapping = read_yaml_mapping(path)
    return [item for key, value in flatten(mapping).items() for item in (key, repr(value))]


def merge_config_list(cfg: Any, opts: Sequence[str]) -> None:
    """``cfg.merge_from_list(opts)`` with one-line errors naming the key."""
    opts = list(opts)
    if len(opts) % 2:
        raise InputError(f"command line: config options must be KEY VALUE pairs, got {len(opts)} items "
                         f"(the last one, {opts[-1]!r}, has no value)")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError, TypeError) as error:
        raise explain_merge_error(error, "command line", cfg) from None
