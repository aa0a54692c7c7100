"""Sparse voxel operations in plain PyTorch (no spconv, no torch_scatter).

A batch of voxelised point clouds is a ``VoxelLevel``: one row per occupied voxel,
identified by an int64 key that packs (cloud index, i, j, k). Keys are kept sorted, so
the 26 neighbours of every voxel are found with ``torch.searchsorted``. On top of that:

- ``SubMConv3d``: submanifold 3x3x3 convolution (outputs only at occupied voxels,
  missing neighbours count as zero), computed as gather + matmul + ``index_add_`` over
  the neighbour pairs of each kernel offset;
- ``VoxelLevel.downsample`` / ``pool``: stride-2 voxel pooling (children of a parent
  voxel ``floor(ijk / 2)`` reduced by max or mean), whose inverse map does the upsampling.

Integer voxel coordinates are non-negative per cloud (callers anchor each cloud at its
own minimum), so the pooling pyramid of a cloud does not depend on what it is batched with.
"""

import itertools
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

# Kernel offsets in (di, dj, dk) lexicographic order: offset index o = 9(di+1) + 3(dj+1) + (dk+1),
# which matches the (kd, kh, kw) layout of a dense conv3d weight. Offset 26 - o is -offset(o).
KERNEL_OFFSETS = torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), dtype=torch.int64)
CENTER = 13

_MAX_KEY = 2**62  # headroom below int64's 2**63 so key + neighbour delta cannot overflow


class VoxelLevel:
    """Occupied voxels of a batch of clouds at one resolution.

    Attributes:
        coord: [M, 3] int64 voxel coordinates (>= 0), in units of this level's voxel size.
        batch: [M] int64 cloud index of each voxel.
        key: [M] int64 packed (batch, coord) keys, strictly increasing.
        spans: packing extents of the three axes (see ``pack_keys``).
        inverse: [M_finer] int64, for each voxel of the next finer level the row of its
            parent voxel here; ``None`` at the finest level.
    """

    def __init__(self, key: Tensor, spans: Tuple[int, int, int], inverse: Optional[Tensor] = None):
        """Build from [M] strictly increasing keys packed with ``spans`` (see ``pack_keys``)."""
        self.key = key
        self.spans = spans
        self.batch, self.coord = unpack_keys(key, spans)
        self.inverse = inverse
        self._kernel_map: Optional[KernelMap] = None

    def __len__(self) -> int:
        return self.key.shape[0]

    @classmethod
    def from_coords(cls, batch: Tensor, coord: Tensor) -> Tuple["VoxelLevel", Tensor]:
        """Voxels occupied by (possibly repeated) coordinates.

        Args:
            batch: [N] int64 cloud index of each entry.
            coord: [N, 3] int64 voxel coordinates, >= 0.
        Returns:
            The level (voxels sorted by key) and [N] int64: the voxel row of each entry.
        """
        spans = _spans(coord)
        packed = pack_keys(batch, coord, spans)
        key, inverse = torch.unique(packed, sorted=True, return_inverse=True)
        return cls(key, spans), inverse

    def downsample(self) -> "VoxelLevel":
        """The next coarser level: voxels of twice the size, ``floor(coord / 2)``.

        Its ``inverse`` maps each voxel of this level to its parent there.
        """
        parent_coord = torch.div(self.coord, 2, rounding_mode="floor")
        parent, inverse = self.from_coords(self.batch, parent_coord)
        parent.inverse = inverse
        return parent

    def pool(self, x: Tensor, mode: str) -> Tensor:
        """Reduce the features of the finer level's voxels into this level's voxels.

        Args:
            x: [M_finer, C] features of the finer level.
            mode: "max" or "mean" over the children of each voxel.
        Returns:
            [M, C] features of this level.
        """
        if mode == "max":
            # The max does not depend on the order in which children arrive, so this stays
            # deterministic on CUDA too (unlike a float index_add_).
            index = self.inverse.unsqueeze(1).expand_as(x)
            out = x.new_zeros(len(self), x.shape[1])
            return out.scatter_reduce_(0, index, x, "amax", include_self=False)
        if mode == "mean":
            count = torch.bincount(self.inverse, minlength=len(self)).clamp_(min=1)
            out = x.new_zeros(len(self), x.shape[1]).index_add_(0, self.inverse, x)
            return out / count.unsqueeze(1).to(x.dtype)
        raise ValueError(f"unknown pooling mode {mode!r}; expected 'max' or 'mean'")

    def unpool(self, x: Tensor) -> Tensor:
        """Copy each voxel's features ([M, C]) to its children: [M_finer, C]."""
        return x.index_select(0, self.inverse)

    def kernel_map(self) -> "KernelMap":
        """Neighbour pairs of the 3x3x3 kernel at this level, computed once and cached."""
        if self._kernel_map is None:
            self._kernel_map = KernelMap.build(self.key, self.spans)
        return self._kernel_map


class KernelMap:
    """Neighbour pairs of a submanifold 3x3x3 kernel, all non-centre offsets concatenated.

    Attributes:
        in_idx, out_idx: [P] int64; voxel ``in_idx[p]`` sits at ``coord[out_idx[p]] + offset``
            in the same cloud, where the offset is the one of the segment holding p.
        segments: (o, start, end) per non-empty offset: pairs ``start:end`` use
            ``KERNEL_OFFSETS[o]``. Within a segment each voxel appears at most once as input
            and at most once as output.
    """

    def __init__(self, in_idx: Tensor, out_idx: Tensor, segments: List[Tuple[int, int, int]]):
        self.in_idx = in_idx
        self.out_idx = out_idx
        self.segments = segments

    @classmethod
    def build(cls, key: Tensor, spans: Tuple[int, int, int]) -> "KernelMap":
        """Find neighbours of [M] sorted voxel keys packed with ``spans`` (``pack_keys``)."""
        _, s1, s2 = spans
        # Coordinates are packed with one voxel of margin on both sides of every axis, so
        # key + delta never wraps into another row, plane or cloud: lookups stay inside a cloud.
        deltas = [(di * s1 + dj) * s2 + dk for di, dj, dk in KERNEL_OFFSETS.tolist()]
        found = {}
        if len(key) > 0:
            # Neighbour relations are symmetric: offset 26 - o (= -offset o) has the pairs
            # of o with input and output swapped, so only half of the offsets are searched.
            for o in range(CENTER):
                query = key + deltas[o]
                pos = torch.searchsorted(key, query).clamp_(max=len(key) - 1)
                out_idx = torch.nonzero(key[pos] == query).squeeze(1)
                in_idx = pos[out_idx]
                found[o] = (in_idx, out_idx)
                found[len(KERNEL_OFFSETS) - 1 - o] = (out_idx, in_idx)
        segments, start = [], 0
        for o in sorted(found):
            end = start + len(found[o][0])
            if end > start:
                segments.append((o, start, end))
            start = end
        empty = key.new_zeros(0)
        in_idx = torch.cat([found[o][0] for o in sorted(found)]) if found else empty
        out_idx = torch.cat([found[o][1] for o in sorted(found)]) if found else empty
        return cls(in_idx, out_idx, segments)


def _spans(coord: Tensor) -> Tuple[int, int, int]:
    """Extent of each packed axis: coordinates 0..max plus one voxel of margin each side."""
    if coord.shape[0] == 0:
        return (3, 3, 3)
    return tuple(int(v) + 3 for v in coord.max(dim=0).values.tolist())


def pack_keys(batch: Tensor, coord: Tensor, spans: Tuple[int, int, int]) -> Tensor:
    """Pack [M] cloud indices and [M, 3] non-negative voxel coordinates into [M] int64 keys.

    Keys sort in (batch, i, j, k) lexicographic order. Coordinates are shifted by one so
    that a neighbour at -1 is representable (see ``KernelMap.build``).
    """
    s0, s1, s2 = spans
    num_clouds = int(batch.max()) + 1 if batch.numel() else 1
    if num_clouds * s0 * s1 * s2 >= _MAX_KEY:
        raise ValueError(
            f"voxel grid too large to hash into int64: {num_clouds} clouds x spans {spans}; "
            "use a larger grid_size or crop the clouds"
        )
    c = coord + 1
    return ((batch * s0 + c[:, 0]) * s1 + c[:, 1]) * s2 + c[:, 2]


def unpack_keys(key: Tensor, spans: Tuple[int, int, int]) -> Tuple[Tensor, Tensor]:
    """Inverse of ``pack_keys``: [M] keys -> ([M] batch, [M, 3] coord)."""
    s0, s1, s2 = spans
    k = key % s2
    rest = torch.div(key, s2, rounding_mode="floor")
    j = rest % s1
    rest = torch.div(rest, s1, rounding_mode="floor")
    i = rest % s0
    batch = torch.div(rest, s0, rounding_mode="floor")
    return batch, torch.stack([i, j, k], dim=1) - 1


class _SubMConv3dFunction(torch.autograd.Function):
    """out[v] = x[v] @ weight[centre] + sum of x[u] @ weight[o] over neighbour pairs (u -> v, o).

    Gather, matmul and ``index_add_`` run offset by offset: each gathered block
    ([P_o, C], a few MB) is still in cache when its matmul reads it, which measured faster
    on CPU than gathering all pairs at once. The hand-written backward keeps only ``x``
    and the weight (autograd would keep every gathered block) and computes d/dx the same
    way with the transposed weights.
    """

    @staticmethod
    # Under autocast (Pointcept trains with AMP) run in float32: the contract of this
    # backbone, and backward then sees one dtype for grads, inputs and weights.
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, x: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:
        out = x @ weight[CENTER]
        for o, start, end in kmap.segments:
            gathered = x.index_select(0, kmap.in_idx[start:end])
            out.index_add_(0, kmap.out_idx[start:end], gathered @ weight[o])
        ctx.save_for_backward(x, weight)
        ctx.kmap = kmap
        return out

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_out: Tensor):
        x, weight = ctx.saved_tensors
        kmap = ctx.kmap
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_out = grad_out.contiguous()
        grad_x = grad_out @ weight[CENTER].t() if need_x else None
        grad_w = None
        if need_w:
            grad_w = torch.zeros_like(weight)
            grad_w[CENTER] = x.t() @ grad_out
        for o, start, end in kmap.segments:
            in_idx = kmap.in_idx[start:end]
            grad_gathered = grad_out.index_select(0, kmap.out_idx[start:end])
            if need_w:
                grad_w[o] = x.index_select(0, in_idx).t() @ grad_gathered
            if need_x:
                grad_x.index_add_(0, in_idx, grad_gathered @ weight[o].t())
        return grad_x, grad_w, None


class SubMConv3d(nn.Module):
    """Submanifold sparse 3x3x3 convolution, stride 1, no bias (a norm layer follows).

    Weight: [27, C_in, C_out], offset order of ``KERNEL_OFFSETS``; ``weight[o]`` equals
    ``dense_conv3d_weight[:, :, di+1, dj+1, dk+1].T``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.weight = nn.Parameter(torch.empty(len(KERNEL_OFFSETS), in_channels, out_channels))
        # Same bound as nn.Conv3d's default init, fan-in = 27 * C_in.
        bound = 1.0 / (len(KERNEL_OFFSETS) * in_channels) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor, level: VoxelLevel) -> Tensor:
        """x: [M, C_in] features of ``level``'s voxels -> [M, C_out]."""
        return _SubMConv3dFunction.apply(x, self.weight, level.kernel_map())

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=3"
