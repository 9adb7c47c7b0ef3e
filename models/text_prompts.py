"""Learnable text prompts for every node of the hierarchy (CoOp / IVLP / HGCLIP style)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ..backbones.openai_clip import clip
from ..backbones.prompted_clip import context_length as clip_context_length
from ..backbones.prompted_clip import token_embedding


class TextPromptLearner(nn.Module):
    r"""Context vectors shared by all class prompts, optionally repeated in deeper layers.

    Each node's prompt is ``[SOS] [ctx_1 .. ctx_n] <rest of CTX_INIT> <class name> . [EOT]``.
    With ``ctx_init`` the first ``n_ctx`` tokens of ``ctx_init`` become the
    learnable context (initialised from their embeddings) and the remaining words
    stay fixed before the class name (HGCLIP/MaPLe semantics); without it the
    context is drawn from N(0, 0.02). ``depth > 1`` adds ``depth - 1`` further
    sets of ``n_ctx`` tokens, N(0, 0.02), that replace positions ``1..n_ctx`` at
    layers ``1..depth-1`` (see :class:`backbones.prompted_clip.PromptedTextEncoder`).

    ``shared_prefix_length`` is the number of leading positions that are the same
    tensor in every class's prompt (SOS, the shared context, the fixed
    ``CTX_INIT`` words; SOS only with class-specific context): the fast text
    encoder runs them once (``PromptedTextEncoder(fast=True)``, ``shared_prefix``).

    The class-dependent tensors (token prefix/suffix, token ids) are
    non-persistent buffers: checkpoints hold only the context, so a model trained
    on one class set loads for another (base -> new).

    Args:
        clip_model: the frozen CLIP model (its token embedding initialises the context).
        class_names: one name per node, in the hierarchy's global node order.
        n_ctx: number of learnable context tokens.
        ctx_init: initial context words ("" = random).
        depth: number of text layers that receive prompts (1 = CoOp).
        class_specific: one context per class (CoOp's CSC); cannot transfer to new classes.

    Shapes:
        - **output:** prompt embeddings :math:`(K, T, d)`, or :math:`(B, K, T, d)`
          when ``ctx_shift`` :math:`(B, d)` is given (CoCoOp).
    """

    def __init__(
        self,
        clip_model: nn.Module,
        class_names: Sequence[str],
        n_ctx: int,
        ctx_init: str = "",
        depth: int = 1,
        class_specific: bool = False,
    ) -> None:
        super().__init__()
        num_layers = len(clip_model.transformer.resblocks)
        if n_ctx < 1:
            raise ValueError(f"the number of text context tokens must be >= 1, got {n_ctx}")
        if not 1 <= depth <= num_layers:
            raise ValueError(f"text prompt depth must be in 1..{num_layers} (text layers of this CLIP), got {depth}")
        context_length = clip_context_length(clip_model)
        width = int(clip_model.ln_final.weight.shape[0])
        dtype = clip_model.token_embedding.weight.dtype

        ctx_init = " ".join(ctx_init.replace("_", " ").split())
        init_ids = clip.tokenize(ctx_init, context_length=context_length)[0] if ctx_init else None
        init_tokens = int(init_ids.argmax()) - 1 if init_ids is not None else 0
        if ctx_init and init_tokens < n_ctx:
            raise ValueError(f"CTX_INIT {ctx_init!r} has {init_tokens} tokens, fewer than N_CTX={n_ctx}")
        prefix_text = ctx_init if ctx_init else " ".join(["X"] * n_ctx)
        prompts = [f"{prefix_text} {name}." for name in class_names]
        try:
            tokenized = clip.tokenize(prompts, context_length=context_length)
        except RuntimeError as error:
            raise ValueError(f"a class prompt does not fit in CLIP's {context_length}-token context: {error}") from None
        with torch.no_grad():
            embedding = token_embedding(clip_model, tokenized).float()
            if ctx_init:
                ctx = token_embedding(clip_model, init_ids[None])[0, 1 : 1 + n_ctx].float()
            else:
                ctx = torch.empty(n_ctx, width).normal_(std=0.02)
        if class_specific:
            ctx = ctx.unsqueeze(0).repeat(len(class_names), 1, 1)
        self.ctx = nn.Parameter(ctx)
        self.deep_ctx = nn.Parameter(torch.empty(depth - 1, n_ctx, width).normal_(std=0.02)) if depth > 1 else None
        self.register_buffer("token_prefix", embedding[:, :1].to(dtype), persistent=False)
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :].to(dtype), persistent=False)
        self.register_buffer("tokenized", tokenized, persistent=False)
        self.n_ctx = n_ctx
        self.depth = depth
        self.class_names = list(class_names)
        # SOS + context + fixed CTX_INIT words, i.e. up to the first class-name token; a
        # class-specific context is one tensor per class, so only SOS is shared then.
        self.shared_prefix_length = 1 if class_specific else 1 + max(n_ctx, init_tokens)

    @property
    def num_classes(self) -> int:
        return self.token_prefix.shape[0]

    def deep_prompts(self) -> Optional[Tensor]:
        """Prompts for layers ``1..depth-1``, or ``None`` for a shallow learner."""
        return self.deep_ctx

    def forward(self, ctx_shift: Optional[Tensor] = None) -> Tensor:
        """Prompt token embeddings for every class (per image when ``ctx_shift`` is given)."""
        dtype = self.token_prefix.dtype
        ctx = self.ctx.to(dtype)
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.num_classes, -1, -1)
        if ctx_shift is None:
            return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)
        batch = ctx_shift.shape[0]
        ctx = ctx.unsqueeze(0) + ctx_shift.to(dtype)[:, None, None, :]
        prefix = self.token_prefix.unsqueeze(0).expand(batch, -1, -1, -1)
        suffix = self.token_suffix.unsqueeze(0).expand(batch, -1, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)
