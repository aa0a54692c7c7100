"""Linear probe on frozen per-point features: semantic segmentation mIoU over a dataset's classes
(ScanNet's 20, S3DIS's 13).

Features come from a backbone (a pretrained DOS teacher's, or a randomly initialised one for
the baseline) at every input point: each scene is grid-sampled, run in eval mode, and mapped
back to all points (``pointcept_dos.inference``). Before features are taken, the backbone's
BatchNorm statistics are re-estimated on the training scenes (same for every method), so that
short runs and random weights are not judged by stale running statistics. A linear
classifier is trained on standardised features of the training scenes and evaluated on every
point of the validation scenes (label -1 ignored).

Classes are split into head / common / tail by their training point frequency into thirds,
as ScanNet200 does with its 200 classes.
"""

import copy

import numpy as np
import torch
import torch.nn as nn

from ..data import CLASS_NAMES, IGNORE_INDEX, grid_sample, model_input
from ..data.model_input import INPUT_KEYS, select_inputs
from ..inference import backbone_point_features

PROBE_DEFAULTS = dict(
    max_train_points=200_000,  # subsample of the training points for the classifier
    iters=300,                  # full-batch L-BFGS iterations
    weight_decay=1e-4,
    input_keys=INPUT_KEYS,      # the backbone's input channels: the config's feat keys
)


# ----- metrics ----------------------------------------------------------------------------
def confusion_matrix(pred, target, num_classes=len(CLASS_NAMES), ignore_index=IGNORE_INDEX):
    """[C, C] int64 counts, rows = ground truth, columns = prediction; ignored labels dropped."""
    pred = np.asarray(pred).reshape(-1)
    target = np.asarray(target).reshape(-1)
    valid = target != ignore_index
    idx = target[valid].astype(np.int64) * num_classes + pred[valid].astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(conf):
    """Per-class IoU = TP / (TP + FP + FN) from a confusion matrix.

    Classes absent from the ground truth get NaN (not evaluated), even if predicted.
    Returns (iou [C] float with NaN, miou: mean over the evaluated classes).
    """
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    gt = conf.sum(1)
    union = gt + conf.sum(0) - tp
    iou = np.full(len(conf), np.nan)
    present = gt > 0
    iou[present] = tp[present] / union[present]
    return iou, float(np.nanmean(iou)) if present.any() else float("nan")


def frequency_groups(train_counts, names=("head", "common", "tail")):
    """Split classes seen in training into thirds by training point count (most frequent first).

    Returns {group: [class ids]}; classes with no training points belong to no group."""
    counts = np.asarray(train_counts)
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    return {name: [int(c) for c in part] for name, part in zip(names, np.array_split(order, len(names)))}


def group_iou(iou, groups):
    """{group: mean IoU over its evaluated classes (NaN if none)}."""
    out = {}
    for name, ids in groups.items():
        vals = np.asarray(iou)[ids] if ids else np.array([])
        vals = vals[~np.isnan(vals)]
        out[name] = float(vals.mean()) if len(vals) else float("nan")
    return out


# ----- features ---------------------------------------------------------------------------
def _sampled_input(scene, grid_size, input_keys=INPUT_KEYS):
    keep, inverse = grid_sample(scene["coord"], grid_size)
    coord = np.asarray(scene["coord"], np.float32)[keep]
    feat = model_input(coord, np.asarray(scene["color"])[keep], np.asarray(scene["normal"])[keep])
    return coord, select_inputs(feat, input_keys), keep, inverse


@torch.no_grad()
def recalibrate_batchnorm(backbone, scenes, grid_size, input_keys=INPUT_KEYS):
    """Re-estimate BatchNorm running statistics: cumulative averages over ``scenes`` (no grad)."""
    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    backbone.train()
    try:
        for scene in scenes:
            coord, feat, _, _ = _sampled_input(scene, grid_size, input_keys)
            backbone_point_features(backbone, coord, feat, grid_size)
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        backbone.eval()


@torch.no_grad()
def scene_features(backbone, scene, grid_size, probe=True, input_keys=INPUT_KEYS):
    """-> (features at the grid-sampled points [M, C] float32 tensor, keep [M], inverse [N]).

    ``backbone`` None gives the raw input channels the backbones see (centred coordinates,
    colour in [-1, 1], normal: 9): the honest baseline a pretrained backbone must beat.
    ``probe=False``: the backbone's own output instead of every level (see
    `backbone_point_features`)."""
    coord, feat, keep, inverse = _sampled_input(scene, grid_size, input_keys)
    if backbone is None:
        return torch.from_numpy(feat), keep, inverse
    backbone.eval()
    features = backbone_point_features(backbone, coord, feat, grid_size, probe=probe)
    return features.float().cpu(), keep, inverse


# ----- probe ------------------------------------------------------------------------------
def _fit_linear(x, y, num_classes, seed, iters, weight_decay):
    """Multinomial logistic regression by full-batch L-BFGS -> nn.Linear."""
    torch.manual_seed(seed)  # the caller has forked the RNG: the run's own stream is untouched
    head = nn.Linear(x.shape[1], num_classes).to(x.device)  # drawn on the CPU: the same values anywhere
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=iters,
                                  history_size=20, line_search_fn="strong_wolfe")
    loss_fn = nn.CrossEntropyLoss()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(head(x), y) + weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def linear_probe(backbone, train_scenes, val_scenes, grid_size, class_names=CLASS_NAMES, seed=0,
                 progress=None, **options):
    """Train a linear classifier on frozen features of ``train_scenes``, evaluate on ``val_scenes``.

    The caller's state is left as it was: the backbone (a copy is probed) and every random
    stream (torch's CPU and CUDA generators are forked), so a probe taken during pretraining
    does not change the run.

    Args:
        backbone: nn.Module returning per-point features; a copy is probed (in eval mode,
            its BatchNorm statistics re-estimated on the training scenes), so it is unchanged.
            None probes the raw input channels (same probe, points and budget).
        train_scenes, val_scenes: lists of scene dicts (coord, color, normal, label: class ids
            of ``class_names``, -1 ignored).
        grid_size: metres, the grid of the pretraining.
        class_names: the dataset's classes, in id order.
        seed: classifier init and subsampling.
        progress: optional callable(n) advanced once per scene (e.g. a tqdm bar's update).
        **options: override :data:`PROBE_DEFAULTS`.
    Returns:
        dict(miou, iou {class name: IoU or None}, groups {head/common/tail: mean IoU},
        group_classes, confusion [C, C] list, feature_dim, train_points).
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        return _linear_probe(backbone, train_scenes, val_scenes, grid_size, class_names, seed,
                             progress, dict(PROBE_DEFAULTS, **options))


def _linear_probe(backbone, train_scenes, val_scenes, grid_size, class_names, seed, progress, opt):
    tick = progress or (lambda n: None)
    if backbone is not None:
        backbone = copy.deepcopy(backbone)
        recalibrate_batchnorm(backbone, train_scenes, grid_size, opt["input_keys"])
    num_classes = len(class_names)
    xs, ys = [], []
    train_counts = np.zeros(num_classes, np.int64)
    for scene in train_scenes:
        feat, keep, _ = scene_features(backbone, scene, grid_size, input_keys=opt["input_keys"])
        label = np.asarray(scene["label"])
        train_counts += np.bincount(label[label != IGNORE_INDEX], minlength=num_classes)
        y = label[keep]
        valid = y != IGNORE_INDEX
        xs.append(feat[torch.from_numpy(valid)])
        ys.append(torch.from_numpy(y[valid].astype(np.int64)))
        tick(1)
    x, y = torch.cat(xs), torch.cat(ys)
    rng = np.random.default_rng(seed)
    if len(x) > opt["max_train_points"]:
        sel = torch.from_numpy(np.sort(rng.choice(len(x), opt["max_train_points"], replace=False)))
        x, y = x[sel], y[sel]
    # the fit runs where the backbone runs (a GPU during training: seconds, not a CPU minute)
    device = next(backbone.parameters()).device if backbone is not None else torch.device("cpu")
    x, y = x.to(device), y.to(device)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    head = _fit_linear((x - mean) / std, y, num_classes, seed, opt["iters"], opt["weight_decay"])
    head, mean, std = head.cpu(), mean.cpu(), std.cpu()

    conf = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad():
        for scene in val_scenes:
            feat, _, inverse = scene_features(backbone, scene, grid_size, input_keys=opt["input_keys"])
            pred = head((feat - mean) / std).argmax(1).numpy()[inverse]
            conf += confusion_matrix(pred, scene["label"], num_classes)
            tick(1)
    iou, miou = iou_from_confusion(conf)
    groups = frequency_groups(train_counts)
    return dict(
        miou=miou,
        iou={name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, iou)},
        groups=group_iou(iou, groups),
        group_classes={g: [class_names[c] for c in ids] for g, ids in groups.items()},
        confusion=conf.tolist(),
        feature_dim=int(x.shape[1]),
        train_points=int(len(x)),
    )
