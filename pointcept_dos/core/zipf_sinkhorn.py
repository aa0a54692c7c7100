"""Zipf-Sinkhorn: balanced teacher targets whose prototype marginal is a Zipf prior.

On teacher scores S [N, K] (logits already divided by the teacher temperature) Sinkhorn-Knopp
looks for a transport plan P = exp(S + a[:, None] + b[None, :]) whose rows each carry 1/N and
whose column k carries w_k (the prior). Only the row potentials a matter for DOS: the target
softmap of prototype k is column k of P normalised over one scene's points, and b_k cancels in
that normalisation. So the target is a per-scene softmax over points of S[:, k] + a.

Implementation: the kernel E = exp(S - rowmax(S)) is formed once; every scaling step is then a
mat-vec product against E instead of a pass that rewrites an [N, K] matrix, which is why this
is no slower than the usual exp-domain Sinkhorn while the potentials themselves live in the
log domain (float64). Where the fp32 kernel underflows for a row or a column (scores spread
over more than ~80 nats, far outside what cos / tau produces), that entry is recomputed
exactly with a log-sum-exp, so extreme scores give finite, correct targets.

A score of -inf means "never assign this point to this prototype": its target is exactly 0.
A prototype whose scores are all -inf (in the batch, or in one scene) can take no mass there:
it is left out of the balancing and its target column in that scene is all zeros. A point
whose scores are all -inf can carry no mass at all, which Sinkhorn's row constraint forbids:
that is an error, as are NaN and +inf.
"""

import torch
import torch.distributed as dist

from .segments import offset_to_bounds
from .validation import (
    check_choice,
    check_matrix,
    check_offset,
    check_positive_int,
)

# Mat-vec sums below this are recomputed in the log domain: fp32 terms lost to underflow are
# < 1.2e-38 each, so above it their total (N < 1e6 points) is < 1e-7 of the sum.
_UNDERFLOW = 1e-25


class _ScaledKernel:
    """E = exp(S - rowmax(S)) with the row maxima kept; rows may be sliced freely because
    both are row-wise. Holds the one [N, K] buffer the algorithm needs besides the scores."""

    def __init__(self, scores, row_max=None, kernel=None):
        self.scores = scores
        if kernel is None:
            row_max = scores.amax(dim=1)
            # amax propagates NaN and +inf, so checking the [N] maxima checks every score
            if not torch.isfinite(row_max).all():
                _raise_bad_scores(scores, row_max)
            kernel = torch.sub(scores, row_max[:, None]).exp_()
            row_max = row_max.double()
        self.row_max = row_max
        self.kernel = kernel

    def rows(self, start, end):
        return _ScaledKernel(
            self.scores[start:end], self.row_max[start:end], self.kernel[start:end]
        )

    def log_row_sums(self, col_pot):
        """[K] float64 column potentials -> [N] float64 log sum_k exp(S[n, k] + col_pot[k])."""
        shift = col_pot.max()
        sums = self.kernel @ torch.exp(col_pot - shift).to(self.kernel.dtype)
        out = self.row_max + shift + sums.double().log()
        bad = sums < _UNDERFLOW
        if bad.any():
            out[bad] = torch.logsumexp(self.scores[bad].double() + col_pot, dim=1)
        return out

    def log_col_sums(self, row_pot):
        """[N] float64 row potentials -> [K] float64 log sum_n exp(S[n, k] + row_pot[n])."""
        if self.kernel.shape[0] == 0:
            return self.row_max.new_full((self.kernel.shape[1],), -torch.inf)
        weights = self.row_max + row_pot
        shift = weights.max()
        sums = self.kernel.t() @ torch.exp(weights - shift).to(self.kernel.dtype)
        out = shift + sums.double().log()
        bad = sums < _UNDERFLOW
        if bad.any():
            out[bad] = torch.logsumexp(
                self.scores[:, bad].double() + row_pot[:, None], dim=0
            )
        return out


def _raise_bad_scores(scores, row_max):
    bad_value = torch.isnan(row_max) | (row_max == torch.inf)
    if bad_value.any():
        row = int(torch.nonzero(bad_value)[0, 0])
        raise ValueError(
            f"logits contain NaN or +inf ({int(bad_value.sum())} of {scores.shape[0]} rows, first "
            f"row {row}): expected finite scores or -inf; the teacher diverged upstream"
        )
    row = int(torch.nonzero(row_max == -torch.inf)[0, 0])
    raise ValueError(
        f"logits row {row} is -inf for every prototype ({int((row_max == -torch.inf).sum())} such "
        f"rows): that point can be assigned to no prototype, but every point must carry 1/N of "
        f"the mass; give it at least one finite score or leave it out"
    )


def _all_logsumexp(log_sums, group):
    """log of the sum over all processes of exp(log_sums), [K] -> [K]."""
    gathered = [torch.empty_like(log_sums) for _ in range(dist.get_world_size(group))]
    dist.all_gather(gathered, log_sums.contiguous(), group=group)
    return torch.logsumexp(torch.stack(gathered), dim=0)


def _potentials(kernel, log_prior, num_iters, group):
    """Alternate T times {rows carry 1/N; column k carries w_k}; returns (a [N], b [K])."""
    num_points = torch.tensor(float(kernel.kernel.shape[0]), dtype=torch.float64)
    if group is not None:
        num_points = num_points.to(kernel.kernel.device)
        dist.all_reduce(num_points, group=group)
    log_row_mass = -torch.log(num_points).to(log_prior.device)
    col_pot = torch.zeros_like(log_prior)
    for _ in range(num_iters):
        row_pot = log_row_mass - kernel.log_row_sums(col_pot)
        log_cols = kernel.log_col_sums(row_pot)
        if group is not None:
            log_cols = _all_logsumexp(log_cols, group)
        # a prototype no point can take (all its scores -inf) gets no mass: potential -inf
        # instead of log w - (-inf) = +inf, which would turn every row sum into NaN
        col_pot = torch.where(log_cols == -torch.inf, -torch.inf, log_prior - log_cols)
    return row_pot, col_pot


def _check_prior(prior, num_prototypes):
    if not isinstance(prior, torch.Tensor) or prior.dim() != 1:
        raise ValueError(f"prior must be a 1-D tensor [K], got {prior!r:.80}")
    if prior.shape[0] != num_prototypes:
        raise ValueError(
            f"prior must have one entry per prototype ({num_prototypes}), got {prior.shape[0]}"
        )
    bad = ~torch.isfinite(prior) | (prior <= 0)
    if bad.any():
        k = int(torch.nonzero(bad)[0, 0])
        raise ValueError(
            f"prior must be finite and strictly positive, got {int(bad.sum())} other entries "
            f"(first: prior[{k}] = {float(prior[k])!r})"
        )
    total = float(prior.double().sum())
    if abs(total - 1.0) > 1e-4:
        raise ValueError(f"prior must sum to 1, got sum {total:.6f}")


def _prepare(logits, offset, prior, num_iters, scope, group):
    check_matrix("logits", logits)
    check_offset(offset, logits.shape[0])
    _check_prior(prior, logits.shape[1])
    check_positive_int("num_iters", num_iters)
    check_choice("scope", scope, {"batch", "scene"})
    if group is not None and not dist.is_initialized():
        raise ValueError("group was given but torch.distributed is not initialised")
    scores = logits.detach().float()
    log_prior = prior.detach().to(device=logits.device, dtype=torch.float64).log()
    return scores, log_prior


def _scope_potentials(kernel, offset, log_prior, num_iters, scope, group):
    """Row potentials [N] for the whole (distributed) batch or for each scene on its own."""
    if scope == "batch":
        return _potentials(kernel, log_prior, num_iters, group)[0]
    row_pot = kernel.row_max.new_zeros(kernel.kernel.shape[0])
    for start, end in offset_to_bounds(offset):
        if end > start:
            row_pot[start:end] = _potentials(
                kernel.rows(start, end), log_prior, num_iters, None
            )[0]
    return row_pot


def zipf_sinkhorn(logits, offset, prior, num_iters=3, scope="batch", group=None):
    """Target softmaps from teacher scores by Sinkhorn-Knopp with a Zipf prototype marginal.

    Args:
        logits: [N, K] teacher scores, already divided by the teacher temperature. Any float
            dtype; the computation runs in fp32 with fp64 potentials, outside autocast.
        offset: [B] int cumulative point counts per scene (Pointcept's `offset`).
        prior: [K] positive prototype marginal summing to 1, e.g. `zipf_prior(K, 1.3)`.
        num_iters: T, the number of {row, column} scaling rounds (3 as in Sonata / DINOv2).
        scope: "batch" balances over the whole batch (across processes when `group` is given,
            the result then equals the single-process result on the concatenated batch);
            "scene" balances each scene on its own (no communication).
        group: a torch.distributed process group, or None for a single process.
    Returns:
        [N, K] float32 target softmaps, no grad: for every scene and every prototype k the
        column sums to 1 over that scene's points (0 where every score of k in the scene is
        -inf; a -inf score gives a target of exactly 0). Empty scenes contribute no rows.
    Raises:
        ValueError: NaN or +inf in `logits`, or a row all -inf (a point no prototype may take).
    """
    scores, log_prior = _prepare(logits, offset, prior, num_iters, scope, group)
    with torch.no_grad(), torch.autocast(scores.device.type, enabled=False):
        kernel = _ScaledKernel(scores)
        row_pot = _scope_potentials(kernel, offset, log_prior, num_iters, scope, group)
        # normalise the columns of exp(S + a) per scene, in place on the kernel buffer
        for start, end in offset_to_bounds(offset):
            if end == start:
                continue
            block = kernel.rows(start, end)
            weights = block.row_max + row_pot[start:end]
            block.kernel.mul_(torch.exp(weights - weights.max()).float()[:, None])
            # a mat-vec sums columns several times faster than sum(dim=0) on CPU
            col_sums = block.kernel.new_ones(end - start) @ block.kernel
            bad = col_sums < _UNDERFLOW
            if bad.any():
                # recomputed in the log domain, except a column all -inf in this scene: its
                # kernel entries are exactly 0 and stay 0 (no point may take that prototype)
                live = bad.clone()
                live[bad] = block.scores[:, bad].amax(dim=0) > -torch.inf
                block.kernel[:, live] = torch.softmax(
                    block.scores[:, live].double() + row_pot[start:end, None], dim=0
                ).float()
                col_sums[bad] = 1.0
            block.kernel.div_(col_sums)
        return kernel.kernel


def sinkhorn_log_plan(logits, prior, num_iters=3, group=None):
    """The balanced plan before DOS's per-scene normalisation, for inspection and tests.

    Args: as `zipf_sinkhorn` with scope "batch".
    Returns:
        [N, K] float64 log P: after the last round each column k sums to w_k exactly and each
        row to 1/N approximately (exactly in the limit of many rounds).
    """
    offset = torch.tensor([logits.shape[0]], device=logits.device)
    scores, log_prior = _prepare(logits, offset, prior, num_iters, "batch", group)
    with torch.no_grad(), torch.autocast(scores.device.type, enabled=False):
        row_pot, col_pot = _potentials(_ScaledKernel(scores), log_prior, num_iters, group)
        return scores.double() + row_pot[:, None] + col_pot[None, :]
