"""Build the CLIP backbone named by ``cfg.MODEL.BACKBONE``.

Accepted ``MODEL.BACKBONE.NAME`` values:

- an OpenAI name from ``clip.available_models()`` (``"ViT-B/16"``, ...). The
  weights come from ``MODEL.BACKBONE.PATH`` when it is set (a JIT archive or a
  state-dict file), else from OpenAI's URL via ``MODEL.BACKBONE.DOWNLOAD_ROOT``
  (``""`` = ``~/.cache/clip``). Offline machines get a one-line error that says
  which file to put where.
- a name registered with :func:`register_local_backbone`: a model built here without weights
  from a file. :mod:`hgclip.embedded` registers ``"tiny"`` (the embedded tiny CLIP, pretrained
  on the embedded data, cached) and ``"tiny-random"`` (the same architecture, randomly
  initialised from a fixed seed); importing ``hgclip.project``, ``hgclip.plugin`` or the
  trainers' life cycle imports it. Registration keeps this layer below the embedded data.

The result is always an fp32 ``clip.model.CLIP`` in eval mode on the CPU;
callers move or cast it.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Dict, List

import torch
from torch import nn

from ..common.errors import InputError
from .identity import WEIGHTS_FILE_ATTR

__all__ = ["load_clip", "accepted_backbone_names", "register_local_backbone", "local_backbone_names"]

#: Backbones built in this process rather than read from a weights file: name -> builder.
_LOCAL_BACKBONES: Dict[str, Callable[[], nn.Module]] = {}


def register_local_backbone(name: str, build: Callable[[], nn.Module]) -> None:
    """Make ``MODEL.BACKBONE.NAME name`` build its CLIP with ``build()`` (idempotent for the same builder)."""
    existing = _LOCAL_BACKBONES.get(name)
    if existing is not None and existing is not build:
        raise KeyError(f"backbone {name!r} is already registered by {existing.__module__}.{existing.__qualname__}")
    _LOCAL_BACKBONES[name] = build


def local_backbone_names() -> List[str]:
    """The registered local backbone names (``tiny``, ``tiny-random`` once :mod:`hgclip.embedded` is imported)."""
    return list(_LOCAL_BACKBONES)

# Scalars that OpenAI's JIT archives carry next to the weights (build_model drops them too).
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size")


def _clip_module():
    from .openai_clip import clip  # the installed openai-clip, even inside a CoOp/MaPLe checkout

    return clip


def accepted_backbone_names() -> List[str]:
    """Every value ``MODEL.BACKBONE.NAME`` may take."""
    return list(_clip_module().available_models()) + local_backbone_names()


def _get(node: Any, key: str, default: str = "") -> str:
    """Read ``key`` from a yacs node, a dict or an attribute object; missing -> ``default``."""
    if isinstance(node, dict):
        value = node.get(key, default)
    else:
        value = getattr(node, key, default)
    return default if value is None else str(value)


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _finish(model: nn.Module, weights_file: str = "") -> nn.Module:
    """fp32, CPU, eval mode; ``weights_file``: the file the weights were read from, which identifies them
    (:func:`hgclip.backbones.identity.backbone_fingerprint` hashes it once)."""
    model = model.float().cpu().eval()
    if weights_file:
        setattr(model, WEIGHTS_FILE_ATTR, os.path.abspath(weights_file))
    return model


def _read_state_dict(path: str) -> dict:
    """CLIP weights from a JIT archive (as OpenAI ships them) or a ``torch.save``d state dict.

    ``clip.load(path)`` would do the same, but after its JIT attempt fails it
    re-reads the *same* file handle without rewinding it, so plain state-dict
    files fail with ``EOFError`` on current torch. Hence we read the file here
    and hand the state dict to clip's own ``build_model``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load is deprecated in favour of torch.export
            state_dict = torch.jit.load(path, map_location="cpu").state_dict()
    except RuntimeError:  # not a JIT archive
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or "text_projection" not in state_dict:
        found = list(state_dict)[:5] if isinstance(state_dict, dict) else type(state_dict).__name__
        raise ValueError(f"expected an OpenAI CLIP JIT archive or state dict (with 'text_projection'), found {found}")
    return dict(state_dict)


def _load_openai(name: str, path: str, download_root: str) -> nn.Module:
    clip = _clip_module()
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"MODEL.BACKBONE.PATH: weights file {path!r} does not exist")
        try:
            state_dict = _read_state_dict(path)
            # build_model infers the architecture but loads into fp16 weights; reload the
            # original tensors into the fp32 model so fp32 files keep full precision.
            model = clip.model.build_model(dict(state_dict)).float()
            model.load_state_dict({k: v for k, v in state_dict.items() if k not in _NON_WEIGHT_KEYS})
        except Exception as err:  # corrupt file, wrong format, non-CLIP state dict, ...
            raise InputError(
                f"MODEL.BACKBONE.PATH: could not load CLIP weights from {path!r}: {_one_line(err)}; expected an "
                "OpenAI CLIP checkpoint (JIT archive or state dict)"
            ) from err
        return _finish(model, path)

    root = os.path.expanduser(download_root) if download_root else os.path.expanduser("~/.cache/clip")
    filename = os.path.basename(clip.clip._MODELS[name])
    try:
        model, _ = clip.load(name, device="cpu", jit=False, download_root=root)
    except (OSError, RuntimeError) as err:  # no network (URLError), a read-only root, a bad checksum, ...
        raise InputError(
            f"Could not download {name} weights ({_one_line(err)}). "
            f"Put {filename} in {root} (MODEL.BACKBONE.DOWNLOAD_ROOT) "
            f"or set MODEL.BACKBONE.PATH to a local file."
        ) from err
    return _finish(model, os.path.join(root, filename))


def load_clip(backbone_cfg: Any) -> nn.Module:
    """Return the CLIP model for ``backbone_cfg`` (the node ``cfg.MODEL.BACKBONE``).

    Args:
        backbone_cfg: node with ``NAME``, ``PATH`` (``""`` = none) and
            ``DOWNLOAD_ROOT`` (``""`` = ``~/.cache/clip``); a plain dict works too.

    Returns:
        ``clip.model.CLIP`` in fp32, eval mode, on the CPU.

    Raises:
        ValueError: unknown ``NAME``, or ``PATH`` set for a local backbone.
        FileNotFoundError: ``PATH`` is set but the file does not exist.
        RuntimeError: the weights could not be downloaded or read.
    """
    name = _get(backbone_cfg, "NAME").strip()
    path = _get(backbone_cfg, "PATH").strip()
    download_root = _get(backbone_cfg, "DOWNLOAD_ROOT").strip()

    if name in _LOCAL_BACKBONES:
        if path:
            raise ValueError(
                f"MODEL.BACKBONE.PATH={path!r} is only used with OpenAI CLIP names, not NAME={name!r}; "
                f"clear it"
            )
        return _finish(_LOCAL_BACKBONES[name]())

    if name in _clip_module().available_models():
        return _load_openai(name, path, download_root)

    raise ValueError(f"MODEL.BACKBONE.NAME={name!r} is unknown; expected one of {accepted_backbone_names()}")
