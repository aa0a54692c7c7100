"""SparseUNet-lite: a compact sparse-voxel U-Net in plain PyTorch, for CPU runs of DOS."""

from typing import Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..core.segments import offset_to_batch
from .registry import register_backbone
from .sparse import SubMConv3d, VoxelLevel


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "bn":
        # eps / momentum as Pointcept's SpUNet: small batches of large scenes give noisy
        # batch statistics, so running statistics move slowly.
        return nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)
    if kind == "ln":
        return nn.LayerNorm(channels)
    raise ValueError(f"unknown norm {kind!r}; expected 'bn' or 'ln'")


class _LinearNormAct(nn.Sequential):
    """Per-voxel Linear (no bias) + norm + ReLU: [M, C_in] -> [M, C_out]."""

    def __init__(self, in_channels: int, out_channels: int, norm: str):
        super().__init__(
            nn.Linear(in_channels, out_channels, bias=False),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class _ConvNormAct(nn.Module):
    """Submanifold conv + norm + ReLU: [M, C_in] -> [M, C_out]."""

    def __init__(self, in_channels: int, out_channels: int, norm: str):
        super().__init__()
        self.conv = SubMConv3d(in_channels, out_channels)
        self.norm = _norm(norm, out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, level: VoxelLevel) -> Tensor:
        return self.act(self.norm(self.conv(x, level)))


class _ResBlock(nn.Module):
    """Basic residual block: conv-norm-ReLU-conv-norm, identity shortcut, ReLU. [M, C] -> [M, C]."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.conv1 = _ConvNormAct(channels, channels, norm)
        self.conv2 = SubMConv3d(channels, channels)
        self.norm2 = _norm(norm, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, level: VoxelLevel) -> Tensor:
        return self.act(x + self.norm2(self.conv2(self.conv1(x, level), level)))


class _Stage(nn.ModuleList):
    """Residual blocks at one level, all sharing that level's neighbour pairs."""

    def __init__(self, channels: int, depth: int, norm: str):
        super().__init__(_ResBlock(channels, norm) for _ in range(depth))

    def forward(self, x: Tensor, level: VoxelLevel) -> Tensor:
        for block in self:
            x = block(x, level)
        return x


class _Up(nn.Module):
    """Coarse [M_c, C_c] + skip [M_f, C_f] -> fine [M_f, C_f].

    Channels are reduced before unpooling, on the coarse voxels, where it is cheaper; the
    unpooled features and the skip are then fused by a per-voxel linear layer.
    """

    def __init__(self, coarse_channels: int, fine_channels: int, norm: str):
        super().__init__()
        self.reduce = _LinearNormAct(coarse_channels, fine_channels, norm)
        self.fuse = _LinearNormAct(2 * fine_channels, fine_channels, norm)

    def forward(self, x: Tensor, skip: Tensor, coarse: VoxelLevel) -> Tensor:
        return self.fuse(torch.cat([skip, coarse.unpool(self.reduce(x))], dim=1))


@register_backbone("DOS-SpUNet-lite")
class SpUNetLite(nn.Module):
    """Sparse-voxel U-Net with submanifold 3x3x3 convolutions, in plain PyTorch.

    Level l has voxels of ``grid_size * 2**l`` metres and ``channels[l]`` channels.
    Encoder: stem conv, then per level (after stride-2 voxel pooling + linear for l > 0)
    ``enc_depths[l]`` residual blocks. Decoder: per level l < L-1, unpooling of level l+1
    fused with the level-l skip, then ``dec_depths[l]`` residual blocks.

    Args:
        in_channels: point feature channels (e.g. 6 for colour + normal).
        out_channels: output channels; ``None`` keeps ``channels[0]`` (no output layer),
            otherwise a final per-voxel linear layer maps to it.
        channels: channels per level, finest first; its length is the number of levels.
        enc_depths: residual blocks per encoder level (len(channels) entries).
        dec_depths: residual blocks per decoder level, finest first (len(channels) - 1).
        pooling: "max" or "mean" reduction of the 8 children of a coarser voxel.
        norm: "bn" (BatchNorm1d over all voxels of the batch) or "ln" (LayerNorm per voxel).
    """

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: Union[int, None] = None,
        channels: Sequence[int] = (32, 64, 128, 256),
        enc_depths: Sequence[int] = (1, 1, 1, 1),
        dec_depths: Sequence[int] = (1, 1, 1),
        pooling: str = "max",
        norm: str = "bn",
    ):
        super().__init__()
        num_levels = len(channels)
        if len(enc_depths) != num_levels or len(dec_depths) != num_levels - 1:
            raise ValueError(
                f"need len(enc_depths) == len(channels) == len(dec_depths) + 1, got "
                f"{len(enc_depths)}, {num_levels}, {len(dec_depths)}"
            )
        if pooling not in ("max", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}; expected 'max' or 'mean'")
        self.in_channels = in_channels
        self.channels = tuple(channels)
        self.out_channels = channels[0] if out_channels is None else out_channels
        self.pooling = pooling
        self.stem = _ConvNormAct(in_channels, channels[0], norm)
        self.down = nn.ModuleList(
            _LinearNormAct(channels[l - 1], channels[l], norm) for l in range(1, num_levels)
        )
        self.enc = nn.ModuleList(_Stage(c, d, norm) for c, d in zip(channels, enc_depths))
        self.up = nn.ModuleList(
            _Up(channels[l + 1], channels[l], norm) for l in range(num_levels - 1)
        )
        self.dec = nn.ModuleList(_Stage(c, d, norm) for c, d in zip(channels, dec_depths))
        self.head = (
            nn.Identity() if out_channels is None else nn.Linear(channels[0], out_channels)
        )

    @property
    def probe_channels(self) -> int:
        """Width of :meth:`probe_features`: the decoder output plus every encoder level."""
        return self.channels[0] + sum(self.channels)

    def _encode_decode(self, input_dict: dict):
        """-> (decoder output [M0, channels[0]], encoder outputs per level, levels, [N] voxel
        row of every point)."""
        feat = input_dict["feat"]
        batch, grid_coord = voxel_coords(input_dict)
        level, point_to_voxel = VoxelLevel.from_coords(batch, grid_coord)
        levels = [level]
        for _ in range(len(self.enc) - 1):
            levels.append(levels[-1].downsample())

        x = feat.new_zeros(len(level), feat.shape[1]).index_add_(0, point_to_voxel, feat)
        count = torch.bincount(point_to_voxel, minlength=len(level)).clamp_(min=1)
        x = self.stem(x / count.unsqueeze(1).to(x.dtype), level)

        skips = []
        for l, (stage, lvl) in enumerate(zip(self.enc, levels)):
            if l > 0:
                x = self.down[l - 1](lvl.pool(x, self.pooling))
            x = stage(x, lvl)
            skips.append(x)
        for l in reversed(range(len(self.dec))):
            x = self.up[l](x, skips[l], levels[l + 1])
            x = self.dec[l](x, levels[l])
        return x, skips, levels, point_to_voxel

    def forward(self, input_dict: dict) -> Tensor:
        """Per-point features.

        Args:
            input_dict: ``coord`` [N, 3] float metres; ``feat`` [N, in_channels] float;
                ``offset`` [B] int64 cumulative point counts per cloud; ``grid_size``
                float or tensor (scalar or [3]), metres; optional ``grid_coord`` [N, 3] int
                voxel coordinates (default ``floor((coord - cloud min) / grid_size)``).
        Returns:
            [N, out_channels] float features, in input point order. Points in the same
            voxel get that voxel's features (their input features are averaged).
        """
        x, _, _, point_to_voxel = self._encode_decode(input_dict)
        return self.head(x).index_select(0, point_to_voxel)

    def probe_features(self, input_dict: dict) -> Tensor:
        """[N, probe_channels] features for a linear probe: the decoder output and every encoder
        level brought back to the points, concatenated (the analogue of Sonata's probe on a
        PT-v3m2 encoder, whose levels are up-cast and concatenated: 1232 channels there,
        ``probe_channels`` here: 32 + 32 + 64 + 128 + 256 = 512 by default)."""
        x, skips, levels, point_to_voxel = self._encode_decode(input_dict)
        parts = [x]
        for l, skip in enumerate(skips):
            for coarse in reversed(levels[1 : l + 1]):
                skip = coarse.unpool(skip)
            parts.append(skip)
        return torch.cat(parts, dim=1).index_select(0, point_to_voxel)


def voxel_coords(input_dict: dict) -> Tuple[Tensor, Tensor]:
    """Cloud index [N] and voxel coordinates [N, 3] (int64, >= 0) of each point.

    Coordinates are anchored at each cloud's own minimum, so a cloud's voxels and pooling
    pyramid are the same whatever it is batched with.
    """
    coord = input_dict["coord"]
    batch = offset_to_batch(input_dict["offset"].to(coord.device))
    grid_coord = input_dict.get("grid_coord")
    if grid_coord is None:
        grid_size = torch.as_tensor(input_dict["grid_size"], dtype=coord.dtype, device=coord.device)
        origin = _cloud_min(coord, batch, len(input_dict["offset"]))
        return batch, torch.floor((coord - origin[batch]) / grid_size).long()
    grid_coord = grid_coord.long()
    return batch, grid_coord - _cloud_min(grid_coord, batch, len(input_dict["offset"]))[batch]


def _cloud_min(values: Tensor, batch: Tensor, num_clouds: int) -> Tensor:
    """[N, 3] values, [N] cloud index -> [num_clouds, 3] per-cloud minimum."""
    out = values.new_zeros(num_clouds, values.shape[1])
    index = batch.unsqueeze(1).expand_as(values)
    return out.scatter_reduce_(0, index, values, "amin", include_self=False)
