"""minidassl: a small engine with Dassl 0.6.3's API for prompt-learning plugins.

Dassl.pytorch is not on PyPI; this package provides the part of its surface that
CoOp-style trainers use (config, registries, data, optim, evaluation, engine).
Import it through ``dassl_compat``, which prefers a real ``dassl`` when installed.
"""
__version__ = "0.1.0"
DASSL_API_VERSION = "0.6.3"  # the Dassl release whose behaviour is mirrored

from . import config, data, engine, evaluation, optim, utils  # noqa: E402

__all__ = ["__version__", "DASSL_API_VERSION", "config", "data", "engine", "evaluation", "optim", "utils"]
