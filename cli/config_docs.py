"""Write or check ``docs/reference/config.md``, the config key reference rendered from the key declarations.

    python -m hgclip.cli.config_docs --write    # after adding or changing a key (config.py, trainers/*.py)
    python -m hgclip.cli.config_docs --check    # exit 1 when the page is not current (the tests check it too)
"""
from __future__ import annotations

import os.path as osp
import sys
from collections import defaultdict
from typing import Any, Optional, Sequence

from ..common.config_io import flatten
from ..common.config_schema import SAME_AS_DEFAULT, Key
from ..common.generated_pages import page_command
from ..config import COMMON_TRAINER_KEYS, DASSL_KEYS_READ, SHARED_KEYS, declared
from ..project import ConfigKey, config_keys
from ..registry import list_trainers, trainer_class
from ..runtime.dassl_api import get_cfg_default

__all__ = ["DOCS_PAGE", "docs_path", "main", "render_docs"]

#: the page :func:`render_docs` writes, relative to the repository root
DOCS_PAGE = osp.join("docs", "reference", "config.md")

_INTRO = """\
Every key is declared once, with its default and the help text this page shows: the shared keys in
`config.py` (`hgclip.config.SHARED_KEYS`), each trainer's section `TRAINER.<CFG_KEY>` by the trainer
class itself (its `config_section()` in `trainers/<name>.py`), both as
`hgclip.common.config_schema.Key("NAME", default, "help")`. `hgclip.config.extend_cfg` adds them to
Dassl's defaults before any YAML is merged; code that reads a config which may lack a key (a bare
Dassl config) falls back to the declaration (`hgclip.config.read_key`), so no default is written twice.
`hgclip.project.config_keys()` lists the same keys with their defaults, help and declaring trainer."""

_TRAINERS_INTRO = """\
Each trainer declares its own section `TRAINER.<CFG_KEY>` ([Trainers](../guide/trainers.md)). The
baselines come with their published base-to-new config, `vit_b16_ep50_paper.yaml` for the HGCLIP
paper's protocol and `tiny_hiershapes.yaml` for the embedded default
(`configs/trainers/<TRAINER>/`)."""


def docs_path() -> str:
    """The page in this checkout (the repository root is the package root)."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), DOCS_PAGE)


def _value(value: Any) -> str:
    """A default as the page shows it: strings bare unless empty or spaced (``""``, ``"a photo of a"``)."""
    if isinstance(value, str):
        return f'`"{value}"`' if not value or " " in value else f"`{value}`"
    return f"`{value!r}`"


def _meaning(key: str, help_text: str, if_absent: Any = SAME_AS_DEFAULT) -> str:
    if not help_text:
        raise ValueError(f"config key {key} has no help text; give it one where it is declared")
    if "|" in help_text:
        raise ValueError(f"config key {key}: its help text has a '|', which breaks the table; write 'or' instead")
    if if_absent is not SAME_AS_DEFAULT:
        help_text += f"; a config without the key (a bare Dassl config) gets {_value(if_absent)}"
    return help_text


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...] = ("key", "default", "meaning")) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _shared_rows(keys: list[ConfigKey]) -> list[tuple[str, ...]]:
    return [(f"`{k.key}`", _value(k.default), _meaning(k.key, k.help, declared(k.key).if_absent)) for k in keys]


def _dassl_section(changed: list[ConfigKey]) -> list[str]:
    defaults = flatten(get_cfg_default())
    lines = ["## Dassl's own keys", ""]
    if changed:
        lines += ["Dassl keys whose default this project changes:", ""]
        lines += _table([(f"`{k.key}`", f"{_value(defaults[k.key])} → {_value(k.default)}", _meaning(k.key, k.help))
                         for k in changed], ("key", "Dassl's default → this project's", "meaning"))
    else:
        lines += ["This project changes no default of Dassl's own keys. It reads these of them (the `Hierarchical` "
                  "evaluator honours them for every level):", ""]
    rows = [(f"`{key}`", _value(defaults[key]), _meaning(key, text)) for key, text in DASSL_KEYS_READ.items()]
    return lines + _table(rows)


def _is_common(relative: str, key: ConfigKey) -> bool:
    return Key(relative, key.default, key.help) in COMMON_TRAINER_KEYS


def _trainer_section(keys: list[ConfigKey]) -> list[str]:
    """The sections in the paper's table order (the registry's), each key in its declaration order."""
    order = {trainer_class(name).__name__: index for index, name in enumerate(list_trainers())}
    by_section: dict[str, list[ConfigKey]] = defaultdict(list)
    for key in sorted(keys, key=lambda key: order.get(key.declared_by, len(order))):  # stable within a section
        by_section[key.key.split(".")[1]].append(key)
    users: dict[str, list[str]] = defaultdict(list)  # common key name -> trainers that declare it
    own: dict[str, list[tuple[str, ...]]] = {}
    for section, section_keys in by_section.items():
        own[section] = []
        for key in section_keys:
            relative = key.key.split(".", 2)[2]
            if _is_common(relative, key):
                users[relative].append(key.declared_by)
            else:
                own[section].append((f"`{key.key}`", _value(key.default), _meaning(key.key, key.help)))
    lines = ["## Trainer sections", "", _TRAINERS_INTRO, "",
             "Keys that several sections declare alike (`hgclip.config.COMMON_TRAINER_KEYS`):", ""]
    lines += _table([(f"`TRAINER.<NAME>.{common.name}`", _value(common.default),
                      _meaning(common.name, common.help), ", ".join(users[common.name]))
                     for common in COMMON_TRAINER_KEYS if users[common.name]],
                    ("key", "default", "meaning", "declared by"))
    for section, section_keys in by_section.items():
        trainer = section_keys[0].declared_by
        shared = [name for name, declaring in users.items() if trainer in declaring]
        lines += [f"### {trainer}: `TRAINER.{section}`", ""]
        lines += _table(own[section]) if own[section] else []
        if shared:
            lines += ["Also " + ", ".join(f"`{name}`" for name in shared) + " (above).", ""]
    return lines


def render_docs() -> str:
    """``docs/reference/config.md``: every shipped key :func:`~hgclip.project.config_keys` lists, from its declaration."""
    keys = [key for key in config_keys() if key.shipped]
    dassl = flatten(get_cfg_default())
    declared_order = {key.name: index for index, key in enumerate(SHARED_KEYS)}
    shared = sorted((key for key in keys if not key.declared_by and key.key not in dassl),
                    key=lambda key: declared_order.get(key.key, len(declared_order)))
    trainer_keys = [key for key in keys if key.declared_by]
    lines = [
        "# Configuration keys added to Dassl's defaults",
        "",
        "<!-- Generated from the key declarations (hgclip/config.py and each trainer's config_section()) by "
        "`python -m hgclip.cli.config_docs --write`; do not edit by hand. -->",
        "",
        _INTRO,
        "",
        f"{len(keys)} keys: {len(shared)} shared, {len(trainer_keys)} in the trainer sections.",
        "",
        "## Shared keys",
        "",
        *_table(_shared_rows(shared)),
        *_dassl_section([key for key in keys if key.key in dassl]),
        *_trainer_section(trainer_keys),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    return page_command(render_docs, docs_path(), "hgclip.cli.config_docs", __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
