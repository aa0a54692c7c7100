"""Nearest neighbours between point sets, segment by segment, in plain PyTorch (no CUDA op),
so cross-view matching and Pointcept's CPU mode run anywhere."""

import torch

from .segments import offset_to_bounds
from .validation import check_matrix, check_offset, check_positive_int


def knn(query, query_offset, ref, ref_offset, k=1, segment_pairs=None, chunk=4096):
    """k nearest reference points of every query point, within paired segments.

    Args:
        query: [Nq, 3] float coordinates (metres); ref: [Nr, 3].
        query_offset, ref_offset: Pointcept offsets of the segments (scenes or views).
        k: neighbours per query point.
        segment_pairs: [Sq] ints, the reference segment searched for each query segment;
            None pairs segment i with segment i.
        chunk: query rows per distance block, bounding memory to chunk x (segment size).
    Returns:
        (index [Nq, k] int64 into `ref`, -1 where the segment has fewer than k points;
         distance [Nq, k] float Euclidean distance, inf where index is -1), nearest first.
    """
    check_matrix("query", query, num_cols=3)
    check_matrix("ref", ref, num_cols=3)
    check_offset(query_offset, query.shape[0], "query_offset")
    check_offset(ref_offset, ref.shape[0], "ref_offset")
    check_positive_int("k", k)
    query_bounds, ref_bounds = offset_to_bounds(query_offset), offset_to_bounds(ref_offset)
    if segment_pairs is None:
        segment_pairs = list(range(len(query_bounds)))
    if len(segment_pairs) != len(query_bounds):
        raise ValueError(
            f"segment_pairs must name one reference segment per query segment "
            f"({len(query_bounds)}), got {len(segment_pairs)}"
        )
    index = torch.full((query.shape[0], k), -1, dtype=torch.long, device=query.device)
    distance = torch.full((query.shape[0], k), torch.inf, dtype=query.dtype, device=query.device)
    for (q_start, q_end), r_seg in zip(query_bounds, segment_pairs):
        r_start, r_end = ref_bounds[int(r_seg)]
        found = min(k, r_end - r_start)
        if found == 0:
            continue
        segment = ref[r_start:r_end].to(query.dtype)
        for c_start in range(q_start, q_end, chunk):
            c_end = min(c_start + chunk, q_end)
            # exact differences, not |a|^2 - 2ab + |b|^2, which cancels for near points
            d = torch.cdist(query[c_start:c_end], segment, compute_mode="donot_use_mm_for_euclid_dist")
            best, arg = d.topk(found, dim=1, largest=False)
            distance[c_start:c_end, :found] = best
            index[c_start:c_end, :found] = arg + r_start
    return index, distance
