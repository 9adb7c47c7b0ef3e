r"""Exact shared-prefix, length-packed encoding of many prompts by CLIP's text tower.

Why: a prompt learner encodes one prompt per hierarchy node at every step, and
those prompts are ``[SOS] [ctx] <fixed words> <class name> . [EOT]``. Under
CLIP's causal mask, position ``t`` only sees positions ``<= t``, so

* the leading positions that every prompt shares (SOS, the learned context, the
  fixed words; deep prompts replace the same positions in every prompt) have the
  same activations in every prompt at every layer: they are run **once**, as one
  sequence, and their keys/values are reused by every prompt;
* each prompt's own positions after the prefix are run **packed**: all of them in
  one ``[M, d]`` token matrix (``M`` = the sum of the suffix lengths), so the
  projections and MLPs -- almost all of the work -- cost what the class names
  cost, not ``N x`` the longest prompt. Only the attention is laid out per prompt,
  as ``[its group's prefix | its own positions]``, with the prompts bucketed by
  length so that no slot is padding: one attention call per distinct length.

The blocks are the stock ``clip.model.ResidualAttentionBlock``: their
``ln_1``, ``attn`` (``nn.MultiheadAttention``: ``in_proj``/``out_proj``), ``ln_2``
and ``mlp`` are applied as they are; only the attention pattern (prefix keys and
values + the prompt's own causal ones) is assembled here.

Groups: prompts may come in ``G`` groups of ``K`` that share a prefix within the
group only (CoCoOp: one group per image, whose context is shifted by the image).
Each group's prefix is run once and only that group's prompts attend to it.

Gradients: one prefix computation feeds all prompts of a group, so the gradient
that reaches a shared position is the sum over the group's prompts -- what every
tensor the prompts were *broadcast* from (a shared context, a deep prompt, the
meta-net's shift) receives on the plain path too. A tensor that holds a separate
copy per prompt (class-specific context) must not be shared even where its
values happen to be equal (at initialisation they all are): that is why, with
gradients on, only the positions the caller declares shared (``shared_prefix``)
are shared. See :func:`shared_prefix_length`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PackedLayout", "shared_prefix_length", "pack_layout", "encode_packed", "check_fast_path_blocks"]


def check_fast_path_blocks(blocks: Sequence[nn.Module]) -> Optional[str]:
    """``None`` if every block is a stock CLIP text block the fast path can run, else why not.

    Needs: ``ln_1``/``ln_2``/``mlp``, a plain ``nn.MultiheadAttention`` (packed
    in-projection, no bias_k/bias_v, no zero attention, no dropout) and a causal mask.
    """
    for i, block in enumerate(blocks):
        attn = getattr(block, "attn", None)
        if not all(hasattr(block, name) for name in ("ln_1", "ln_2", "mlp")) or not isinstance(
            attn, nn.MultiheadAttention
        ):
            return f"block {i} is not a CLIP ResidualAttentionBlock (ln_1, attn, ln_2, mlp)"
        if attn.in_proj_weight is None or attn.bias_k is not None or attn.add_zero_attn or attn.dropout:
            return f"block {i}: nn.MultiheadAttention with separate projections, bias_k/v, zero attention or dropout"
        if attn.batch_first:
            return f"block {i}: batch_first attention (CLIP's text blocks are sequence-first)"
        mask = getattr(block, "attn_mask", None)
        if mask is None:
            return f"block {i} has no attention mask (the text tower must be causal)"
        n = mask.shape[0]
        future = torch.ones(n, n, dtype=torch.bool, device=mask.device).triu(1)
        causal = torch.where(future, float("-inf"), 0.0)
        if mask.dtype == torch.bool or not torch.equal(mask.float(), causal):
            return f"block {i}: the attention mask is not CLIP's causal (-inf above the diagonal) mask"
    return None


def shared_prefix_length(
    embeddings: Tensor,
    eot: Tensor,
    deep_prompts: Sequence[Tensor],
    declared: Optional[int],
) -> int:
    """How many leading positions every prompt of a group shares (0 = none).

    Args:
        embeddings: ``[G, K, T, d]`` prompt token embeddings.
        eot: ``[G, K]`` end-of-text positions; the prefix stops before the earliest
            one, so that every prompt keeps at least its EOT position.
        deep_prompts: per-layer deep prompts ``[n, d]`` or ``[G*K, n, d]``.
        declared: positions the caller guarantees are shared *by construction*
            (the same tensor broadcast to every prompt of a group, gradients
            included), e.g. :attr:`TextPromptLearner.shared_prefix_length`: SOS,
            context and fixed words, up to the first class-name token.

    Rules: the prefix is the longest run of leading positions whose embeddings
    (and per-prompt deep prompts) are equal across each group, capped by the
    earliest EOT; and, when ``declared`` is given, by ``declared``. Without
    ``declared``, equal values are only trusted when no gradient is needed
    (nothing in ``embeddings``/``deep_prompts`` requires grad); otherwise nothing
    is shared, because equal values do not prove a broadcast (see the module doc).
    """
    groups, per_group, length, _ = embeddings.shape
    if groups * per_group == 0:
        return 0
    cap = min(int(eot.min()), length)
    if declared is not None:
        cap = min(cap, max(int(declared), 0))
    elif embeddings.requires_grad or any(p.requires_grad for p in deep_prompts):
        return 0
    if cap <= 0:
        return 0
    head = embeddings[:, :, :cap]
    same = (head == head[:, :1]).all(-1).all(1).all(0)  # [cap]: equal in every prompt of every group
    different = (~same).nonzero()
    prefix = int(different[0]) if len(different) else cap
    for p in deep_prompts:
        if p.dim() == 3 and prefix > 1:
            n = min(p.shape[1], prefix - 1)
            rows = p[:, :n].reshape(groups, per_group, n, -1)
            if not bool((rows == rows[:, :1]).all()):
                prefix = 1  # per-prompt deep prompts: only SOS is common
    return prefix


@dataclass(frozen=True)
class PackedLayout:
    """Where every packed row comes from and goes to.

    ``R = G*P + M`` rows: first the ``P`` shared positions of each of the ``G``
    groups, then the ``M`` suffix tokens of the ``N = G*K`` prompts (prompt-major),
    prompt ``n`` owning positions ``P .. P + lengths[n] - 1``. For attention
    every prompt is laid out as ``[its group's prefix | its suffix]`` (``P +
    lengths[n]`` slots, where the causal mask is exactly CLIP's), the prompts
    sorted by length into ``buckets`` of equal length, so no slot is padding.
    """

    prefix: int  # P, shared positions per group
    groups: int  # G
    per_group: int  # K
    lengths: Tensor  # [N] suffix lengths
    source: Tensor  # [R] the prompt each row is read from (embedding, per-prompt deep prompt, attention output)
    pos: Tensor  # [R] absolute position of each row
    buckets: tuple  # ((prompts, slots per prompt), ...): the attention calls, in slot order
    slot_rows: Tensor  # [S] the row each attention slot reads (S = N*P + M)
    row_slots: Tensor  # [R] the slot whose attention output is each row's
    last: Tensor  # [N] row of each prompt's EOT token

    @property
    def num_prompts(self) -> int:
        return self.groups * self.per_group

    @property
    def num_tokens(self) -> int:
        """Rows run through the projections and MLPs: shared prefixes + packed suffixes."""
        return int(self.pos.shape[0])

    @property
    def max_len(self) -> int:
        """The longest suffix."""
        return int(self.lengths.max()) if self.lengths.numel() else 0


def pack_layout(eot: Tensor, prefix: int, pack: bool = True) -> PackedLayout:
    """The layout for prompts ending at ``eot`` ``[G, K]`` after a ``prefix``-position shared prefix.

    ``pack=False`` runs every suffix up to the longest one's length (the prefix sharing alone).
    """
    groups, per_group = eot.shape
    eot = eot.reshape(-1)
    device = eot.device
    n = eot.shape[0]
    lengths = eot + 1 - prefix
    if not pack:
        lengths = torch.full_like(lengths, int(lengths.max()))
    shared = groups * prefix
    offsets = torch.cumsum(lengths, 0) - lengths  # first suffix row of each prompt, after the shared rows
    prompt = torch.repeat_interleave(torch.arange(n, device=device), lengths)  # [M]
    local = torch.arange(prompt.shape[0], device=device) - offsets[prompt]
    group_first = torch.arange(groups, device=device).repeat_interleave(prefix) * per_group  # [G*P]
    source = torch.cat([group_first, prompt])
    pos = torch.cat([torch.arange(prefix, device=device).repeat(groups), prefix + local])

    # attention slots: the prompts sorted by length, each [prefix | suffix]; equal lengths are one bucket
    order = torch.sort(lengths, stable=True).indices
    widths = prefix + lengths[order]
    first_slot = torch.empty_like(lengths)
    first_slot[order] = torch.cumsum(widths, 0) - widths
    slot_prompt = torch.repeat_interleave(order, widths)  # [S]
    slot = torch.arange(slot_prompt.shape[0], device=device) - first_slot[slot_prompt]
    group = slot_prompt // per_group
    slot_rows = torch.where(slot < prefix, group * prefix + slot, shared + offsets[slot_prompt] + slot - prefix)
    bucket_lengths, counts = torch.unique_consecutive(lengths[order], return_counts=True)
    return PackedLayout(
        prefix=prefix,
        groups=groups,
        per_group=per_group,
        lengths=lengths,
        source=source,
        pos=pos,
        buckets=tuple((c, prefix + length) for c, length in zip(counts.tolist(), bucket_lengths.tolist())),
        slot_rows=slot_rows,
        row_slots=first_slot[source] + pos,
        last=shared + offsets + eot - prefix,  # each EOT token's row (pack=False: the rows after it are unused)
    )


def _block(block: nn.Module, x: Tensor, layout: PackedLayout) -> Tensor:
    """One stock block on the rows ``[R, d]``: per-row parts on the rows, causal attention per length bucket."""
    attn = block.attn
    heads = attn.num_heads
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)[layout.slot_rows]  # [S, 3d]
    outputs, start = [], 0
    for prompts, width in layout.buckets:
        chunk = qkv[start:start + prompts * width]
        q, k, v = chunk.view(prompts, width, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)  # [n, H, width, dh]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        outputs.append(out.transpose(1, 2).reshape(prompts * width, -1))
        start += prompts * width
    out = torch.cat(outputs)[layout.row_slots]  # [R, d]: each row's own slot
    x = x + F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    return x + block.mlp(block.ln_2(x))


def _replace(x: Tensor, prompt: Tensor, layout: PackedLayout) -> Tensor:
    """Put a deep prompt ``[n, d]`` / ``[N, n, d]`` at the rows whose position is in ``1..n``."""
    index = ((layout.pos >= 1) & (layout.pos <= prompt.shape[-2])).nonzero().squeeze(1)
    if index.numel() == 0:
        return x
    slot = layout.pos[index] - 1
    values = prompt[slot] if prompt.dim() == 2 else prompt[layout.source[index], slot]
    return x.index_put((index,), values.to(x.dtype))


def encode_packed(
    blocks: Sequence[nn.Module],
    embeddings: Tensor,
    positional: Tensor,
    deep_prompts: Sequence[Tensor],
    layout: PackedLayout,
) -> Tensor:
    r"""Run the text blocks on shared prefixes + packed suffixes; return each prompt's EOT token ``[N, d]``.

    Args:
        blocks: the stock text blocks (see :func:`check_fast_path_blocks`).
        embeddings: ``[G, K, T, d]`` prompt token embeddings in the compute dtype.
        positional: ``[T_ctx, d]`` positional embedding.
        deep_prompts: per-layer deep prompts (``[n, d]`` or ``[G*K, n, d]``) for blocks ``1..len``.
        layout: from :func:`pack_layout`.

    Shapes: output :math:`(G K, d)`, before ``ln_final`` and the projection.
    """
    flat = embeddings.reshape(layout.num_prompts, *embeddings.shape[2:])
    x = flat[layout.source, layout.pos] + positional.to(embeddings.dtype)[layout.pos]  # [R, d]
    for i, block in enumerate(blocks):
        if 1 <= i <= len(deep_prompts):
            x = _replace(x, deep_prompts[i - 1], layout)
        x = _block(block, x, layout)
    return x[layout.last]
