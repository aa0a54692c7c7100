"""Helpers for Pointcept-style batches, where `offset[i]` is the cumulative point count up to
and including scene i. Scenes are contiguous row ranges, so per-scene reductions are slices."""

import torch


def offset_to_bounds(offset):
    """[B] offset -> list of (start, end) row ranges, one per scene (empty scenes included)."""
    ends = offset.tolist()
    starts = [0] + ends[:-1]
    return list(zip(starts, ends))


def offset_to_batch(offset):
    """[B] offset -> [N] int64 scene index of every point."""
    counts = torch.diff(offset, prepend=offset.new_zeros(1))
    return torch.repeat_interleave(
        torch.arange(len(offset), device=offset.device), counts.long()
    )


def batch_to_offset(batch, num_scenes=None):
    """[N] sorted scene index -> [B] offset (cumulative counts)."""
    counts = torch.bincount(batch, minlength=num_scenes or 0)
    return torch.cumsum(counts, dim=0)
