"""Argument checks shared by the DOS core.

Every public function validates its inputs here so that a wrong shape, dtype or range fails
at once with a message that names the argument, the value received and what was expected,
instead of surfacing later as a NaN loss.
"""

import math
import numbers

import torch


def check_matrix(name, value, num_rows=None, num_cols=None):
    """Require a 2-D floating tensor, optionally of a given [rows, cols] shape."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, K], got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {value.dtype}")
    if num_rows is not None and value.shape[0] != num_rows:
        raise ValueError(
            f"{name} must have {num_rows} rows, got shape {tuple(value.shape)}"
        )
    if num_cols is not None and value.shape[1] != num_cols:
        raise ValueError(
            f"{name} must have {num_cols} columns, got shape {tuple(value.shape)}"
        )


def check_offset(offset, num_points, name="offset"):
    """Require a Pointcept offset: 1-D integer, non-decreasing, ending at num_points."""
    if not isinstance(offset, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(offset).__name__}")
    if offset.dim() != 1 or offset.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D tensor of cumulative point counts, "
            f"got shape {tuple(offset.shape)}"
        )
    if offset.is_floating_point() or offset.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {offset.dtype}")
    if offset[0] < 0 or (offset[1:] < offset[:-1]).any():
        raise ValueError(
            f"{name} must be non-decreasing and non-negative (cumulative counts), "
            f"got {offset.tolist()[:8]}"
        )
    if int(offset[-1]) != num_points:
        raise ValueError(
            f"{name}[-1] must equal the number of points {num_points}, got {int(offset[-1])}"
        )


def _is_int(value):
    # numbers.Integral admits numpy integer scalars; a bool is an int to Python, never meant here
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_non_negative_int(name, value):
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def check_real(name, value, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """Require a finite real in the interval given; the message states the interval.
    Python and numpy scalars are accepted (numbers.Real), bools are not."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
