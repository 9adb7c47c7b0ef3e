"""The built-in engine: the part of Dassl 0.6.3's API that prompt-learning plugins touch.

Dassl.pytorch is not on PyPI; this package provides the part of its surface that
an install without Dassl needs (config defaults, registries, Datum/DatasetBase, transforms, optimisers and
schedulers, utils).
Import it through :mod:`hgclip.runtime.dassl_api`, which prefers a real ``dassl`` when installed.
This project's trainers do not subclass its trainers (:mod:`hgclip.engine.trainer` owns their
life cycle under either engine), so it has no trainer base classes, data manager or samplers: a CoOp/MaPLe
checkout that needs those runs on the real Dassl.
"""
__version__ = "0.1.0"
DASSL_API_VERSION = "0.6.3"  # the Dassl release whose behaviour is mirrored

from . import config, data, engine, evaluation, optim, utils  # noqa: E402

__all__ = ["__version__", "DASSL_API_VERSION", "config", "data", "engine", "evaluation", "optim", "utils"]
