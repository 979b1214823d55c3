""":class:`CrossbarMultiheadAttention`: ``nn.MultiheadAttention`` with its projections on crossbars.

The four projections hold static weights, so they are what a crossbar accelerator maps: the
query, key and value projections (``in_proj_weight`` split in three, or ``q/k/v_proj_weight``
when ``kdim``/``vdim`` differ) and the output projection are :class:`CrossbarLinear` layers,
each on its own crossbars. The attention itself, ``softmax(Q K^T / sqrt(d) + mask) V``,
multiplies activations by activations (a crossbar would have to be reprogrammed for every
input), so it stays digital, in float, as in CIM transformer accelerators that keep attention
on a digital unit. The masks, ``bias_k``/``bias_v``, ``add_zero_attn``, dropout and
``need_weights``/``average_attn_weights`` behave as ``nn.MultiheadAttention``'s
(``torch.nn.functional.multi_head_attention_forward``).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..reram.config import ReramConfig
from .linear import CrossbarLinear

#: How many crossbar layers one attention holds (seeds ``seed`` .. ``seed + 3``: q, k, v, out).
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class CrossbarMultiheadAttention(nn.Module):
    """``nn.MultiheadAttention`` whose q, k, v and output projections run on emulated crossbars.

    Same constructor and forward as ``nn.MultiheadAttention``; beyond them ``config`` and
    ``seed`` (projection ``i`` of :data:`PROJECTIONS` takes ``seed + i``) and the other options
    of :class:`CrossbarLinear` (``per_channel``, ``input_scale``, ``dynamic_scale``,
    ``weight_noise``). The projections see batch-first inputs, so a dynamic ``per_sample``
    scale is one per sequence whatever ``batch_first`` is.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: Optional[int] = None,
                 vdim: Optional[int] = None, batch_first: bool = False, *, config: Optional[ReramConfig] = None,
                 seed: int = 0, device: Any = None, dtype: Any = None, **options: Any) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads; got {embed_dim} and {num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = float(dropout), bool(batch_first), bool(add_zero_attn)
        made = {"device": device, "dtype": dtype, "config": config, **options}
        self.q_proj = CrossbarLinear(embed_dim, embed_dim, bias, seed=seed % 2**64, **made)
        self.k_proj = CrossbarLinear(self.kdim, embed_dim, bias, seed=(seed + 1) % 2**64, **made)
        self.v_proj = CrossbarLinear(self.vdim, embed_dim, bias, seed=(seed + 2) % 2**64, **made)
        self.out_proj = CrossbarLinear(embed_dim, embed_dim, bias, seed=(seed + 3) % 2**64, **made)
        # nn.MultiheadAttention's packed weights do not exist here (three separate crossbar
        # layers): the attributes say so to code that inspects them, such as the fast path of
        # nn.TransformerEncoderLayer, which then runs this module's forward.
        self.in_proj_weight = self.in_proj_bias = None
        self._qkv_same_embed_dim = False
        self.bias_k: Optional[nn.Parameter]
        self.bias_v: Optional[nn.Parameter]
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.zeros(1, 1, embed_dim, device=device, dtype=dtype))
            self.bias_v = nn.Parameter(torch.zeros(1, 1, embed_dim, device=device, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None

    @classmethod
    def from_float(cls, attention: nn.MultiheadAttention, config: Optional[ReramConfig] = None,
                   **options: Any) -> "CrossbarMultiheadAttention":
        """A crossbar attention with ``attention``'s geometry and trained weights (copied)."""
        weight = attention.in_proj_weight if attention.in_proj_weight is not None else attention.q_proj_weight
        layer = cls(attention.embed_dim, attention.num_heads, attention.dropout, attention.in_proj_bias is not None,
                    attention.bias_k is not None, attention.add_zero_attn, attention.kdim, attention.vdim,
                    attention.batch_first, config=config, device=weight.device, dtype=weight.dtype, **options)
        E = attention.embed_dim
        with torch.no_grad():
            for i, name in enumerate(PROJECTIONS[:3]):
                projection = getattr(layer, name)
                if attention.in_proj_weight is not None:
                    projection.weight.copy_(attention.in_proj_weight[i * E:(i + 1) * E])
                else:
                    projection.weight.copy_(getattr(attention, f"{name}_weight"))
                if attention.in_proj_bias is not None:
                    projection.bias.copy_(attention.in_proj_bias[i * E:(i + 1) * E])
            layer.out_proj.weight.copy_(attention.out_proj.weight)
            if attention.out_proj.bias is not None and layer.out_proj.bias is not None:
                layer.out_proj.bias.copy_(attention.out_proj.bias)
            for name in ("bias_k", "bias_v"):
                if getattr(attention, name) is not None:
                    getattr(layer, name).copy_(getattr(attention, name))
        return layer

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[torch.Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple:
        """``(attn_output, attn_weights)`` as ``nn.MultiheadAttention.forward`` returns them."""
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        batch, target, source = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        if is_causal and attn_mask is None:
            attn_mask = torch.ones(target, source, dtype=torch.bool, device=q.device).triu(1)
        mask = _float_mask(attn_mask, q.dtype)
        padding = _float_mask(key_padding_mask, q.dtype)
        if self.bias_k is not None and self.bias_v is not None:
            k = torch.cat([k, self.bias_k.to(k.dtype).expand(batch, 1, -1)], dim=1)
            v = torch.cat([v, self.bias_v.to(v.dtype).expand(batch, 1, -1)], dim=1)
            mask, padding = _one_more_key(mask), _one_more_key(padding)
        q, k, v = (t.reshape(batch, t.shape[1], self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if self.add_zero_attn:
            k = torch.cat([k, k.new_zeros(batch, self.num_heads, 1, self.head_dim)], dim=2)
            v = torch.cat([v, v.new_zeros(batch, self.num_heads, 1, self.head_dim)], dim=2)
            mask, padding = _one_more_key(mask), _one_more_key(padding)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, heads, L, S)
        if mask is not None:
            scores = scores + (mask.reshape(batch, self.num_heads, target, -1) if mask.dim() == 3 else mask)
        if padding is not None:
            scores = scores + padding[:, None, None, :]
        weights = torch.softmax(scores, dim=-1)
        attended = F.dropout(weights, self.dropout, self.training) @ v
        output = self.out_proj(attended.transpose(1, 2).reshape(batch, target, self.embed_dim))
        if unbatched:
            output = output.squeeze(0)
        elif not self.batch_first:
            output = output.transpose(0, 1)
        if not need_weights:
            return output, None
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return output, (weights.squeeze(0) if unbatched else weights)


def _float_mask(mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """A boolean mask (``True``: not attended) as ``-inf``/0, a float one as given."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _one_more_key(mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """The mask with one more (attended) key at the end."""
    return None if mask is None else F.pad(mask, (0, 1))
