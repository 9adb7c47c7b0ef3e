"""Deep prompting on the *unmodified* OpenAI CLIP.

OpenAI's ``clip.model`` has no hook for prompts, so prompt-learning code usually
vendors a patched copy of it. Here we re-implement only the two short encoder
forwards and iterate over ``transformer.resblocks`` ourselves. Every weight and
sub-module belongs to the stock ``clip.model.CLIP`` and is reused as it is.

Prompt depth follows MaPLe/IVLP/HGCLIP: the input-level prompts feed block 0,
block ``i`` with ``1 <= i < depth`` first has its prompt tokens *replaced* by
``deep_prompts[i - 1]``, and blocks ``>= depth`` carry the previous outputs
through. ``depth = len(deep_prompts) + 1``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .text_fast_path import check_fast_path_blocks, encode_packed, pack_layout, shared_prefix_length

__all__ = [
    "PromptedTextEncoder",
    "PromptedVisionEncoder",
    "DeepPrompts",
    "context_length",
    "model_dtype",
    "token_embedding",
    "encode_text_plain",
]

#: A stacked tensor ``[depth - 1, n_ctx, d]`` or a sequence of per-layer tensors,
#: each ``[n_ctx, d]`` (shared by the batch) or ``[N, n_ctx, d]`` (one per sample).
DeepPrompts = Union[Tensor, Sequence[Tensor]]


def context_length(clip_model: nn.Module) -> int:
    """Number of text positions the model was built for (77 for OpenAI CLIP)."""
    return int(clip_model.positional_embedding.shape[0])


def model_dtype(clip_model: nn.Module) -> torch.dtype:
    """The dtype CLIP runs in: the dtype of ``visual.conv1.weight`` (as ``CLIP.dtype``)."""
    return clip_model.visual.conv1.weight.dtype


def token_embedding(clip_model: nn.Module, tokenized: Tensor) -> Tensor:
    """Token embeddings ``[N, T, d]`` of ``tokenized`` ``[N, T]``, in the model dtype.

    Used to initialise context vectors from words and to build the fixed
    SOS / class-name / EOT parts of a prompt.
    """
    weight = clip_model.token_embedding.weight
    return clip_model.token_embedding(tokenized.to(weight.device)).to(model_dtype(clip_model))


def encode_text_plain(clip_model: nn.Module, tokenized: Tensor, truncate: bool = True) -> Tensor:
    """``clip_model.encode_text(tokenized)`` (zero-shot, no prompts), optionally truncated.

    With ``truncate`` the fast path runs (shared leading tokens once, each prompt
    up to its own EOT). Returns un-normalised text features ``[N, D]``.
    """
    encoder = PromptedTextEncoder(clip_model, truncate=truncate, fast=truncate)
    return encoder(token_embedding(clip_model, tokenized), tokenized)


def _as_layer_list(deep_prompts: Optional[DeepPrompts], num_layers: int, what: str) -> list:
    """Validate ``deep_prompts`` and return it as a list of per-layer tensors."""
    if deep_prompts is None:
        return []
    layers = list(deep_prompts.unbind(0)) if isinstance(deep_prompts, Tensor) else list(deep_prompts)
    if len(layers) > num_layers - 1:
        raise ValueError(
            f"{what}: got {len(layers)} deep prompt layers, but a {num_layers}-block transformer "
            f"accepts at most {num_layers - 1} (prompt depth <= number of blocks)"
        )
    for i, p in enumerate(layers):
        if not isinstance(p, Tensor) or p.dim() not in (2, 3):
            shape = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
            raise ValueError(f"{what}: deep_prompts[{i}] must be [n_ctx, d] or [N, n_ctx, d], got {shape}")
    return layers


def _batched(prompt: Tensor, batch: int, like: Tensor, what: str) -> Tensor:
    """Cast ``prompt`` ([n, d] or [B, n, d]) to ``like``'s dtype/device and expand to ``[B, n, d]``."""
    prompt = prompt.to(dtype=like.dtype, device=like.device)
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0).expand(batch, -1, -1)
    if prompt.dim() != 3 or prompt.shape[0] != batch or prompt.shape[-1] != like.shape[-1]:
        raise ValueError(
            f"{what}: expected [n_ctx, {like.shape[-1]}] or [{batch}, n_ctx, {like.shape[-1]}], "
            f"got {tuple(prompt.shape)}"
        )
    return prompt


def _run_block(block: nn.Module, x: Tensor) -> Tensor:
    """Apply one stock ``ResidualAttentionBlock`` to ``x`` ``[L, N, d]`` (LND).

    The stock forward uses the block's full-size mask (77x77 for text). When
    ``x`` is shorter, the same two residual branches are applied here with the
    top-left ``L x L`` corner of that mask; this reuses the block's modules and
    leaves the block untouched.
    """
    mask = block.attn_mask
    n = x.shape[0]
    if mask is None or mask.shape[0] == n:
        return block(x)
    mask = mask[:n, :n].to(dtype=x.dtype, device=x.device)
    h = block.ln_1(x)
    x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
    x = x + block.mlp(block.ln_2(x))
    return x


class PromptedTextEncoder(nn.Module):
    r"""CLIP's text tower with deep (per-layer) text prompts.

    With token embeddings :math:`E \in \mathbb{R}^{N \times T \times d}` (SOS,
    context, class name, EOT, padding) and positional embedding :math:`P`,

    .. math::
        x^{(0)} = E + P, \qquad
        x^{(i+1)} = \mathrm{Block}_i\big(\tilde x^{(i)}\big), \qquad
        \tilde x^{(i)}_{t} = \begin{cases}
            \mathrm{deep}_{i-1,\,t-1} & 1 \le i < \mathrm{depth},\ 1 \le t \le n_{ctx} \\
            x^{(i)}_{t} & \text{otherwise}
        \end{cases}

    and the output is :math:`\mathrm{ln\_final}(x^{(L)}_{\mathrm{eot}})\,W_{text}`
    with ``eot = tokenized.argmax(-1)`` (the EOT id is the largest token id).
    Features are **not** normalised.

    Because attention is causal, positions ``<= eot`` never see later ones, so
    with ``truncate=True`` only the first ``max(eot) + 1`` positions are run
    (plus the prompt positions). This is exact up to float rounding and much
    faster for short prompts in a 77-token context.

    With ``fast=True`` (what the trainers use) the work follows the class names
    (:mod:`backbones.text_fast_path`): the leading positions shared by every
    prompt (SOS, context, fixed words; ``shared_prefix`` says how many are shared
    by construction) are run once, and each prompt's remaining positions up to
    its own EOT are run packed, attending to the prefix's keys and values. Same
    features and gradients as the plain path up to float rounding. ``fast=False``
    (the default, for backward compatibility) is the plain truncated path.
    Only positions declared shared are shared while gradients are needed: a
    class-specific context (CoOp's CSC) is one tensor per class, equal across
    classes at initialisation, so its learner declares ``shared_prefix=1`` (SOS
    only) and each class keeps its own gradient; without a declaration nothing
    is shared under autograd, and equal leading positions are shared without it.

    Groups (CoCoOp): ``prompt_embeddings`` :math:`(G, K, T, d)` are ``G`` groups of
    ``K`` prompts whose prefix is shared within a group only (one group per
    image: the image-conditional context differs between images); the fast path
    runs one prefix per group and the output is :math:`(G, K, D)`.

    The CLIP sub-modules are registered here (as in CoOp's ``TextEncoder``), so
    ``.to()`` moves them; they are not modified. Freezing is the caller's job.

    Args:
        clip_model (clip.model.CLIP): the (frozen) CLIP model.
        truncate (bool, optional): run only the positions up to the last EOT.
            (default: :obj:`True`)
        fast (bool, optional): shared-prefix + length-packed encoding (needs
            ``truncate``). (default: :obj:`False`)
        share_prefix (bool, optional): with ``fast``, run the shared prefix once.
            (default: :obj:`True`)
        pack (bool, optional): with ``fast``, run each prompt only up to its own
            EOT instead of padding to the longest. (default: :obj:`True`)

    Shapes:
        - **input:** prompt_embeddings :math:`(N, T, d)` (or :math:`(G, K, T, d)`)
          with :math:`T \le` context length; tokenized :math:`(N, T)` (or
          :math:`(K, T)` / :math:`(G, K, T)`; only its argmax is used);
          deep_prompts :math:`(\mathrm{depth}-1, n_{ctx}, d)` or a sequence of
          :math:`(n_{ctx}, d)` / :math:`(N, n_{ctx}, d)` tensors (:math:`N = GK`).
        - **output:** :math:`(N, D)` (or :math:`(G, K, D)`) with :math:`D` = ``text_projection.shape[1]``.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        truncate: bool = True,
        fast: bool = False,
        share_prefix: bool = True,
        pack: bool = True,
    ) -> None:
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.truncate = truncate
        self.fast = fast
        self.share_prefix = share_prefix
        self.pack = pack
        self._fast_unsupported = check_fast_path_blocks(self.transformer.resblocks)
        if fast and self._fast_unsupported:
            raise ValueError(f"PromptedTextEncoder(fast=True): {self._fast_unsupported}; use fast=False")

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype; follows later casts (clip's fp16 conversion also casts text_projection)."""
        return self.text_projection.dtype

    @property
    def width(self) -> int:
        """Token width ``d`` (512 for ViT-B/16)."""
        return int(self.positional_embedding.shape[1])

    @property
    def num_layers(self) -> int:
        """Number of transformer blocks (12 for ViT-B/16)."""
        return len(self.transformer.resblocks)

    @property
    def context_length(self) -> int:
        return int(self.positional_embedding.shape[0])

    @property
    def output_dim(self) -> int:
        return int(self.text_projection.shape[1])

    def forward(
        self,
        prompt_embeddings: Tensor,
        tokenized: Tensor,
        deep_prompts: Optional[DeepPrompts] = None,
        truncate: Optional[bool] = None,
        fast: Optional[bool] = None,
        shared_prefix: Optional[int] = None,
    ) -> Tensor:
        """Encode ``N`` prompts (or ``G x K``); ``truncate``/``fast`` override the constructor settings.

        ``shared_prefix``: leading positions the caller guarantees are the same
        tensor in every prompt of a group (see
        :func:`backbones.text_fast_path.shared_prefix_length`); ``None`` shares
        equal leading positions only when no gradient is needed.
        """
        if prompt_embeddings.dim() == 4:
            return self._forward_groups(prompt_embeddings, tokenized, deep_prompts, truncate, fast, shared_prefix)
        if prompt_embeddings.dim() != 3 or prompt_embeddings.shape[-1] != self.width:
            raise ValueError(
                f"PromptedTextEncoder: prompt_embeddings must be [N, T, {self.width}] or [G, K, T, {self.width}], "
                f"got {tuple(prompt_embeddings.shape)}"
            )
        n_prompts, seq_len, _ = prompt_embeddings.shape
        if seq_len > self.context_length:
            raise ValueError(
                f"PromptedTextEncoder: {seq_len} tokens exceed the model's context length {self.context_length}"
            )
        if tuple(tokenized.shape) != (n_prompts, seq_len):
            raise ValueError(
                f"PromptedTextEncoder: tokenized must be [{n_prompts}, {seq_len}] to match the "
                f"embeddings, got {tuple(tokenized.shape)}"
            )
        layers = self._layers(deep_prompts, n_prompts, seq_len, prompt_embeddings)
        eot = tokenized.argmax(dim=-1).to(prompt_embeddings.device)
        truncate = self.truncate if truncate is None else truncate
        if self._use_fast(fast, truncate, n_prompts):
            return self._encode_fast(prompt_embeddings.unsqueeze(0), eot.unsqueeze(0), layers, shared_prefix)[0]
        return self._encode_plain(prompt_embeddings, eot, layers, truncate)

    # ------------------------------------------------------------------ helpers
    def _layers(self, deep_prompts: Optional[DeepPrompts], n_prompts: int, seq_len: int, like: Tensor) -> list:
        layers = _as_layer_list(deep_prompts, self.num_layers, "PromptedTextEncoder")
        n_ctx_max = max((p.shape[-2] for p in layers), default=0)
        if 1 + n_ctx_max > seq_len:
            raise ValueError(f"PromptedTextEncoder: {n_ctx_max} deep prompt tokens do not fit after SOS in {seq_len}")
        return [
            _batched(p, n_prompts, like, f"PromptedTextEncoder: deep_prompts[{i}]") if p.dim() == 3 else
            _check_width(p, like, f"PromptedTextEncoder: deep_prompts[{i}]")
            for i, p in enumerate(layers)
        ]

    def _use_fast(self, fast: Optional[bool], truncate: bool, n_prompts: int) -> bool:
        fast = self.fast if fast is None else fast
        if fast and self._fast_unsupported:
            raise ValueError(f"PromptedTextEncoder(fast=True): {self._fast_unsupported}; use fast=False")
        return bool(fast and truncate and n_prompts > 0 and (self.share_prefix or self.pack))

    def _forward_groups(self, embeddings: Tensor, tokenized: Tensor, deep_prompts: Optional[DeepPrompts],
                        truncate: Optional[bool], fast: Optional[bool], shared_prefix: Optional[int]) -> Tensor:
        """``[G, K, T, d]`` prompts in ``G`` groups (one shared prefix per group) -> ``[G, K, D]``."""
        groups, per_group, seq_len, width = embeddings.shape
        if width != self.width or seq_len > self.context_length:
            raise ValueError(
                f"PromptedTextEncoder: prompt_embeddings must be [G, K, T <= {self.context_length}, {self.width}], "
                f"got {tuple(embeddings.shape)}"
            )
        if tokenized.dim() == 2:
            tokenized = tokenized.unsqueeze(0).expand(groups, -1, -1)
        if tuple(tokenized.shape) != (groups, per_group, seq_len):
            raise ValueError(
                f"PromptedTextEncoder: tokenized must be [{per_group}, {seq_len}] or [{groups}, {per_group}, {seq_len}] "
                f"to match the embeddings, got {tuple(tokenized.shape)}"
            )
        n_prompts = groups * per_group
        layers = self._layers(deep_prompts, n_prompts, seq_len, embeddings)
        eot = tokenized.argmax(dim=-1).to(embeddings.device)
        truncate = self.truncate if truncate is None else truncate
        if self._use_fast(fast, truncate, n_prompts):
            return self._encode_fast(embeddings, eot, layers, shared_prefix)
        flat = self._encode_plain(embeddings.reshape(n_prompts, seq_len, width), eot.reshape(-1), layers, truncate)
        return flat.reshape(groups, per_group, -1)

    def _encode_plain(self, prompt_embeddings: Tensor, eot: Tensor, layers: list, truncate: bool) -> Tensor:
        """Every prompt padded to the longest one (``truncate``) or to the full context."""
        n_prompts, seq_len, _ = prompt_embeddings.shape
        n_ctx_max = max((p.shape[-2] for p in layers), default=0)
        n = seq_len
        if truncate and n_prompts > 0:
            n = min(seq_len, max(int(eot.max()) + 1, 1 + n_ctx_max))

        x = prompt_embeddings[:, :n].to(self.dtype)
        x = x + self.positional_embedding[:n].to(x.dtype)
        x = x.permute(1, 0, 2)  # NLD -> LND
        for i, block in enumerate(self.transformer.resblocks):
            if 1 <= i <= len(layers):
                prompt = _batched(layers[i - 1], n_prompts, x, f"PromptedTextEncoder: deep_prompts[{i - 1}]")
                k = prompt.shape[1]
                x = torch.cat([x[:1], prompt.permute(1, 0, 2), x[1 + k:]], dim=0)
            x = _run_block(block, x)
        x = x.permute(1, 0, 2)  # LND -> NLD

        x = self.ln_final(x).to(self.dtype)
        x = x[torch.arange(n_prompts, device=x.device), eot]
        return x @ self.text_projection

    def _encode_fast(self, embeddings: Tensor, eot: Tensor, layers: list, shared_prefix: Optional[int]) -> Tensor:
        """Shared prefix once per group + packed suffixes: ``[G, K, T, d]`` -> ``[G, K, D]``."""
        groups, per_group = eot.shape
        embeddings = embeddings.to(self.dtype)
        prefix = shared_prefix_length(embeddings, eot, layers, shared_prefix) if self.share_prefix else 0
        layout = pack_layout(eot, prefix, pack=self.pack)
        tokens = encode_packed(self.transformer.resblocks, embeddings, self.positional_embedding, layers, layout)
        x = self.ln_final(tokens).to(self.dtype) @ self.text_projection
        return x.reshape(groups, per_group, -1)


def _check_width(prompt: Tensor, like: Tensor, what: str) -> Tensor:
    """A shared ``[n, d]`` deep prompt, cast to ``like``'s dtype/device, with the right width."""
    if prompt.shape[-1] != like.shape[-1]:
        raise ValueError(f"{what}: expected [n_ctx, {like.shape[-1]}] or [N, n_ctx, {like.shape[-1]}], "
                         f"got {tuple(prompt.shape)}")
    return prompt.to(device=like.device)


class PromptedVisionEncoder(nn.Module):
    r"""CLIP's ViT image tower with (deep) visual prompts appended after the patches.

    With patch embeddings :math:`p_1..p_G`, class token :math:`c`, positional
    embedding :math:`P` and input prompts :math:`V \in \mathbb{R}^{n_{ctx} \times w}`,

    .. math::
        x^{(0)} = \mathrm{ln\_pre}\big([\,[c, p_1, \dots, p_G] + P,\ V\,]\big), \qquad
        x^{(i+1)} = \mathrm{Block}_i\big(\tilde x^{(i)}\big),

    where :math:`\tilde x^{(i)}` has its **last** :math:`n_{ctx}` tokens replaced by
    ``deep_prompts[i-1]`` for :math:`1 \le i < \mathrm{depth}` and equals
    :math:`x^{(i)}` otherwise. Outputs:

    - global feature :math:`\mathrm{ln\_post}(x^{(L)}_0)\,W_{proj}`;
    - with ``return_tokens``: :math:`\mathrm{ln\_post}(x^{(L)}_{1:})\,W_{proj}`,
      the ``G`` patch tokens followed by the ``n_ctx`` prompt tokens (HGCLIP uses
      both), or only the patch tokens when ``include_prompt_tokens=False``.

    Without prompts the global feature equals ``clip_model.encode_image``.
    The CLIP sub-modules are registered here but not modified.

    Args:
        clip_model (clip.model.CLIP): a CLIP with a ViT image tower.

    Shapes:
        - **input:** images :math:`(B, 3, H, W)` at the model's resolution;
          prompts :math:`(n_{ctx}, w)` or :math:`(B, n_{ctx}, w)`; deep_prompts
          :math:`(\mathrm{depth}-1, n_{ctx}, w)` or a sequence of
          :math:`(n_{ctx}, w)` / :math:`(B, n_{ctx}, w)` tensors.
        - **output:** :math:`(B, D)`, and with ``return_tokens`` also
          :math:`(B, G + n_{ctx}, D)` (or :math:`(B, G, D)`).
    """

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        visual = clip_model.visual
        if not hasattr(visual, "class_embedding"):
            raise TypeError(
                f"PromptedVisionEncoder needs a ViT image tower, got {type(visual).__name__} "
                f"(use a ViT-* backbone)"
            )
        self.conv1 = visual.conv1
        self.class_embedding = visual.class_embedding
        self.positional_embedding = visual.positional_embedding
        self.ln_pre = visual.ln_pre
        self.transformer = visual.transformer
        self.ln_post = visual.ln_post
        self.proj = visual.proj
        self.input_resolution = int(visual.input_resolution)

    @property
    def width(self) -> int:
        """Token width ``w`` (768 for ViT-B/16)."""
        return int(self.class_embedding.shape[0])

    @property
    def num_layers(self) -> int:
        return len(self.transformer.resblocks)

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype: that of ``conv1.weight`` (CLIP's own ``dtype``)."""
        return self.conv1.weight.dtype

    @property
    def num_patches(self) -> int:
        return int(self.positional_embedding.shape[0]) - 1

    @property
    def output_dim(self) -> int:
        return self.width if self.proj is None else int(self.proj.shape[1])

    def _project(self, x: Tensor) -> Tensor:
        x = self.ln_post(x)
        return x if self.proj is None else x @ self.proj

    def forward(
        self,
        images: Tensor,
        prompts: Optional[Tensor] = None,
        deep_prompts: Optional[DeepPrompts] = None,
        return_tokens: bool = False,
        include_prompt_tokens: bool = True,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Encode images; returns ``global`` or ``(global, tokens)`` (see class doc)."""
        if images.dim() != 4 or images.shape[-2:] != (self.input_resolution, self.input_resolution):
            raise ValueError(
                f"PromptedVisionEncoder: images must be [B, 3, {self.input_resolution}, "
                f"{self.input_resolution}], got {tuple(images.shape)}"
            )
        layers = _as_layer_list(deep_prompts, self.num_layers, "PromptedVisionEncoder")
        n_ctx = 0 if prompts is None else prompts.shape[-2]
        for i, p in enumerate(layers):
            if p.shape[-2] != n_ctx:
                raise ValueError(
                    f"PromptedVisionEncoder: deep_prompts[{i}] has {p.shape[-2]} tokens but the input "
                    f"prompts have {n_ctx}; deep prompts replace the input-level prompt tokens"
                )

        x = self.conv1(images.to(self.dtype))  # [B, w, g, g]
        batch = x.shape[0]
        x = x.reshape(batch, x.shape[1], -1).permute(0, 2, 1)  # [B, G, w]
        cls = self.class_embedding.to(x.dtype).expand(batch, 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        if prompts is not None:
            x = torch.cat([x, _batched(prompts, batch, x, "PromptedVisionEncoder: prompts")], dim=1)
        x = self.ln_pre(x)

        x = x.permute(1, 0, 2)  # NLD -> LND
        for i, block in enumerate(self.transformer.resblocks):
            if 1 <= i <= len(layers):
                prompt = _batched(layers[i - 1], batch, x, f"PromptedVisionEncoder: deep_prompts[{i - 1}]")
                x = torch.cat([x[: x.shape[0] - n_ctx], prompt.permute(1, 0, 2)], dim=0)
            x = _run_block(block, x)
        x = x.permute(1, 0, 2)  # LND -> NLD

        global_features = self._project(x[:, 0, :])
        if not return_tokens:
            return global_features
        end = x.shape[1] if include_prompt_tokens else 1 + self.num_patches
        return global_features, self._project(x[:, 1:end, :])
