"""HGCLIP for Dassl: hierarchical prompt learning with CLIP.

The repository root is the package ``hgclip``: each folder is a sub-package of the same name
(``hgclip.trainers``, ``hgclip.datasets``, ...), so the repository keeps the CoOp/MaPLe layout and
nothing collides with a checkout's own ``trainers``, ``datasets`` or vendored ``clip``.
Install it (``pip install -e .``) to import it. The public entry points:

* ``hgclip.plugin``     use the trainers inside a CoOp/MaPLe/PromptSRC checkout;
* ``hgclip.config``     every config key the project adds (``extend_cfg``);
* ``hgclip.registry``   the registered trainers (``list_trainers``);
* ``hgclip.engine``     the life cycle every trainer shares, on the real Dassl or the built-in engine;
* ``hgclip.cli``        the command-line tools (``train.py``, base-to-new, compare, decoders).
"""
__version__ = "0.2.0"
