"""Exact k-nearest neighbours in plain torch, with the contract of the CUDA-only
``pointops.knn_query``: the CPU mode's stand-in for it (``standins``) and its wrapper of the real
one for CPU tensors (``cpu_mode``) both answer with this function."""

import torch

from ..core.neighbours import knn


# pointops' CUDA kernel fills slots it cannot fill (segment smaller than nsample) with index -1
# and squared distance 1e10, i.e. distance 1e5 after its sqrt; we do the same.
_KNN_EMPTY_DISTANCE = 1e5


def knn_query(nsample, xyz, offset, new_xyz=None, new_offset=None):
    """Exact kNN within batch segments, the contract of ``pointops.knn_query``.

    xyz: (n, 3) reference points, offset: (b,) cumulative segment ends of xyz;
    new_xyz: (m, 3) queries (default xyz), new_offset: (b,) their segment ends (default offset).
    Returns (idx int32 (m, nsample), dist float32 (m, nsample)), neighbours sorted by increasing
    Euclidean distance, searched only in the query's own segment; missing neighbours are -1 / 1e5.
    """
    if new_xyz is None or new_offset is None:
        new_xyz, new_offset = xyz, offset
    if len(offset) != len(new_offset):
        raise ValueError(
            f"knn_query: {len(offset)} reference segments but {len(new_offset)} query segments"
        )
    with torch.no_grad():
        idx, dist = knn(
            new_xyz.detach().float(), new_offset.reshape(-1).long(),
            xyz.detach().float(), offset.reshape(-1).long(), k=int(nsample),
        )
    dist[idx < 0] = _KNN_EMPTY_DISTANCE
    return idx.to(torch.int32), dist
