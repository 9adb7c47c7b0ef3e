r"""PromptSRC (Khattak et al., ICCV 2023) on a hierarchy: IVLP prompts regularised towards the frozen CLIP.

Loss (logged terms in brackets, unweighted):

.. math::
    \mathcal L = \mathcal L_{CE} + \lambda_t\,\lVert \bar g - \bar g^{zs}\rVert_1
               + \lambda_i\,\lVert \bar f - \bar f^{zs}\rVert_1
               + \lambda_{kl}\,\sum_l w_l\,\mathrm{KL}_l(p^{zs}\,\Vert\,p)

* ``l1_text``: mean absolute difference between the normalised prompted text
  features of all nodes and the frozen zero-shot ones (``TEXT_LOSS_WEIGHT``, 25);
* ``l1_image``: the same for the image features (``IMAGE_LOSS_WEIGHT``, 10);
* ``kl``: KL divergence between the zero-shot and the prompted softmax, taken
  per hierarchy level (one softmax per level slice) and weighted like the CE
  (``KL_LOSS_WEIGHT``, 1);
* Gaussian prompt aggregation (GPA): after every epoch the learner's prompts
  enter a running average with weight :math:`\propto \mathcal N(e; \mu, \sigma)`
  (``e`` = 1-based epoch); after the last epoch the average replaces the
  prompts, before the last checkpoint is written (so it is what gets saved,
  tested and transferred to new classes).

The frozen teacher is the same CLIP run without prompts (no second copy of the
weights); its text features are the template ensemble of the dataset's
zero-shot templates file (``TEMPLATES_FILE``, as ``ZeroshotCLIP``), computed
once at build time.

Deviations from the official PromptSRC implementation (as described in the reference notes):

* classes are all nodes of all levels; CE and KL are per level (the original has one softmax);
* the teacher text ensemble uses our templates file, not the 60 ImageNet
  templates, and averages *normalised* per-template features (the original
  averages unnormalised ones);
* ``GPA_MEAN``/``GPA_STD`` are given for a ``GPA_REF_EPOCHS``-epoch schedule
  (20, the original base-to-new config) and are scaled by
  ``MAX_EPOCH / GPA_REF_EPOCHS`` when ``MAX_EPOCH`` differs (``GPA_REF_EPOCHS 0``
  uses them as given). The running sums are saved in every checkpoint
  (the ``gpa`` state :meth:`PromptSRC.build_model` declares), so a resumed run aggregates every epoch;
* only the learner is registered and checkpointed (the original saves the
  whole model including a second frozen image encoder).
"""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..common.config_schema import Key
from ..config import deep_prompt_keys
from ..datasets.templates import dataset_templates_path, load_level_templates
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.losses import level_kl_divergence
from ..models.prompt_aggregation import GaussianPromptAggregator, gaussian_epoch_weights, scaled_gpa_moments
from ..models.promptsrc import PromptSRCModel
from ..registry import register_trainer


@register_trainer
class PromptSRC(HierarchicalCLIPTrainer):
    """Self-regulating prompts with per-level weighted cross-entropy and per-level KL."""

    CFG_KEY = "PROMPTSRC"
    TABLE_ORDER = 6
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c2_ep20_batch4_4+4ctx", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.PROMPTSRC``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        # the weights are ints as in PromptSRC's train.py and YAMLs (yacs does not merge an int into a float key)
        return deep_prompt_keys(4, 4, 9, 9, "a photo of a") + (
            Key("TEXT_LOSS_WEIGHT", 25, "self-regularisation to the frozen CLIP: weight of the L1 distance of the "
                "prompted text features to the frozen CLIP text features"),
            Key("IMAGE_LOSS_WEIGHT", 10, "weight of the L1 distance of the prompted image features to the frozen "
                "CLIP image features"),
            Key("KL_LOSS_WEIGHT", 1.0, "weight of the per-level KL(zero-shot softmax, prompted softmax)"),
            Key("GPA_MEAN", 15, "Gaussian prompt aggregation over epochs: the mean epoch (1-based) of a "
                "`GPA_REF_EPOCHS` schedule"),
            Key("GPA_STD", 1, "its standard deviation, in epochs of a `GPA_REF_EPOCHS` schedule"),
            Key("GPA_REF_EPOCHS", 20, "`GPA_MEAN` and `GPA_STD` are rescaled by `MAX_EPOCH / GPA_REF_EPOCHS`; "
                "`0` = use them as given"),
            Key("TEMPLATES_FILE", "", "the teacher's text templates; `\"\"` = `DATASET.TEMPLATES_FILE`, else "
                "`configs/templates/<DATASET.DISPLAY_NAME or NAME>.json`, else `configs/templates/default.json`"),
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        path = dataset_templates_path(self.cfg, c.TEMPLATES_FILE)
        print(f"PromptSRC teacher templates: {path}")
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return PromptSRCModel(clip_model, hierarchy, names, load_level_templates(path, hierarchy), c.N_CTX_TEXT,
                              c.N_CTX_VISION, c.PROMPT_DEPTH_TEXT, c.PROMPT_DEPTH_VISION, c.CTX_INIT)

    def compute_loss(self, images: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Any]]:
        c = self.trainer_cfg
        out = self.model.forward_train(images)
        loss, terms = self.classification_loss(out.logits, labels)
        terms["l1_text"] = F.l1_loss(out.text, out.zs_text)
        terms["l1_image"] = F.l1_loss(out.image, out.zs_image)
        terms["kl"] = level_kl_divergence(out.logits, out.zs_logits, self.hierarchy.level_slices, self.level_weights)
        loss = (loss + float(c.TEXT_LOSS_WEIGHT) * terms["l1_text"] + float(c.IMAGE_LOSS_WEIGHT) * terms["l1_image"]
                + float(c.KL_LOSS_WEIGHT) * terms["kl"])
        return loss, terms

    # ------------------------------------------------------------------ GPA
    def gpa_weights(self) -> list[float]:
        """Normalised GPA weight of every epoch ``0..MAX_EPOCH-1`` (see the module docstring)."""
        c = self.trainer_cfg
        mean, std = scaled_gpa_moments(c.GPA_MEAN, c.GPA_STD, self.max_epoch, int(c.GPA_REF_EPOCHS))
        return gaussian_epoch_weights(self.max_epoch, mean, std)

    def build_model(self) -> None:
        """Checkpoints also hold the aggregation's running sums, so that a resumed run aggregates every epoch."""
        super().build_model()
        self._gpa: GaussianPromptAggregator | None = None
        self.checkpointer.add_state("gpa", self._gpa_state, self._restore_gpa)

    def _gpa_state(self) -> dict | None:
        return self._gpa.state_dict() if self._gpa is not None else None

    def _restore_gpa(self, state: dict | None) -> None:
        if state is not None:
            if self._gpa is None:
                self._gpa = GaussianPromptAggregator()
            self._gpa.load_state_dict(state)

    def before_train(self) -> None:
        self._gpa = GaussianPromptAggregator()
        self._gpa_weights = self.gpa_weights()
        print("GPA epoch weights: " + ", ".join(f"{w:.3f}" for w in self._gpa_weights))
        super().before_train()  # a resume restores the aggregation sums (the "gpa" state)

    def after_epoch(self) -> None:
        self._gpa.update(self.model.learner, self._gpa_weights[self.epoch])
        if (self.epoch + 1) == self.max_epoch:
            print(f"GPA: loading the Gaussian-weighted average of {self._gpa.num_updates} epochs into the prompts")
            self._gpa.load_into(self.model.learner)
            self.model.clear_cache()
        super().after_epoch()
