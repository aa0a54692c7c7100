"""The demo's report folder: report.md, metrics.json, two plots and a coloured PLY.

- ``report.md``: linear-probe mIoU and head / common / tail IoU per method, per-class IoU,
  settings and timings;
- ``prototype_usage.png``: the teacher's prototype usage on the validation scenes, sorted,
  against the Zipf prior (log-log);
- ``training_curves.png``: loss terms and the effective number of prototypes per step;
- ``scene_prototypes.ply``: a validation scene, each point coloured by its strongest
  teacher prototype (ASCII PLY, opens in MeshLab / CloudCompare);
- ``metrics.json``: everything above as numbers.

Every file is written atomically (``io.atomic_write``): a run killed while writing the report
leaves the previous file or the new one, never half of one.
"""

import json
import math
import os

import numpy as np
import torch

from ..core.prototype_usage import prototype_counts
from ..io.atomic import atomic_write
from .probe import scene_features

REPORT_FILES = ("report.md", "metrics.json", "prototype_usage.png", "training_curves.png",
                "scene_prototypes.ply")


# ----- teacher prototypes on scenes ----------------------------------------------------------
@torch.no_grad()
def teacher_scores(model, scene, grid_size):
    """-> ([M, K] teacher cosines at the grid-sampled points (eval mode), inverse [N])."""
    was_training = model.training
    model.eval()
    try:
        feat, _, inverse = scene_features(model.teacher["backbone"], scene, grid_size, probe=False)
        return model.teacher["head"](feat), inverse
    finally:
        model.train(was_training)


def teacher_assignments(model, scene, grid_size):
    """[N] strongest teacher prototype of every point of ``scene``."""
    scores, inverse = teacher_scores(model, scene, grid_size)
    return scores.argmax(1).numpy()[inverse]


def usage_on_scenes(model, scenes, grid_size):
    """[K] share of the scenes' points whose strongest teacher prototype is k."""
    counts = np.zeros(model.num_prototypes, np.int64)
    for scene in scenes:
        scores, inverse = teacher_scores(model, scene, grid_size)
        counts += prototype_counts(scores[torch.from_numpy(inverse)]).numpy()
    return counts / max(1, counts.sum())


# ----- files ---------------------------------------------------------------------------------
def prototype_palette(num_prototypes, seed=0):
    """[K, 3] uint8 distinct-ish colours (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    return rng.integers(30, 256, size=(num_prototypes, 3)).astype(np.uint8)


def write_ply(path, coord, color, opener=atomic_write):
    """ASCII PLY with float x, y, z and uchar red, green, blue per vertex."""
    coord = np.asarray(coord, np.float32)
    color = np.asarray(color, np.uint8)
    if coord.shape != color.shape or coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord and color must both be [N, 3], got {coord.shape}, {color.shape}")
    header = "\n".join([
        "ply", "format ascii 1.0", f"element vertex {len(coord)}",
        "property float x", "property float y", "property float z",
        "property uchar red", "property uchar green", "property uchar blue", "end_header",
    ])
    with opener(path, "w") as f:
        f.write(header + "\n")
        for (x, y, z), (r, g, b) in zip(coord.tolist(), color.tolist()):
            f.write(f"{x:.4f} {y:.4f} {z:.4f} {r} {g} {b}\n")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, path, opener):
    fig.tight_layout()
    with opener(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def plot_prototype_usage(path, usages, priors, opener):
    """``usages`` {label: [K] usage}; ``priors`` {alpha: [K] Zipf prior}; sorted usage vs the
    priors the runs used, log-log."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (alpha, prior) in enumerate(priors.items()):
        rank = np.arange(1, len(prior) + 1)
        ax.loglog(rank, np.sort(np.asarray(prior))[::-1], color="k", ls=("--", ":", "-.")[i % 3],
                  label=f"Zipf prior (alpha={alpha:g})")
    for label, usage in usages.items():
        rank = np.arange(1, len(usage) + 1)
        u = np.sort(np.asarray(usage))[::-1]
        used = u > 0
        ax.loglog(rank[used], u[used], marker=".", ms=3, lw=1, label=f"{label} ({used.sum()} used)")
    ax.set_xlabel("prototype rank")
    ax.set_ylabel("share of validation points")
    ax.set_title("Teacher prototype usage (sorted) vs prior")
    ax.legend(fontsize=8)
    _save_figure(plt, fig, path, opener)


# the collapse signals DOS-v1m1 returns each step (see ZipfSinkhornHook): target softmaps
# flattening towards uniform over the points, teacher cosines no longer varying over the points
COLLAPSE_SIGNALS = (("target_entropy", "target entropy / log N", "-"),
                    ("teacher_spread", "teacher cosine spread", "--"))


def plot_training_curves(path, histories, opener):
    """``histories`` {label: list of per-step dicts}: loss terms, effective prototypes and the
    collapse signals."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for i, (label, history) in enumerate(histories.items()):
        colour = f"C{i}"
        steps = [h["step"] for h in history]
        axes[0].plot(steps, [h["loss"] for h in history], colour, lw=1.2, label=f"{label} total")
        for key, style in (("same_view_loss", ":"), ("cross_view_loss", "--")):
            if key in history[0]:
                axes[0].plot(steps, [h[key] for h in history], colour, ls=style, lw=0.8,
                             label=f"{label} {key.replace('_loss', '')}")
        axes[1].plot(steps, [h["effective_prototypes"] for h in history], colour, lw=1.2,
                     label=f"{label} teacher")
        axes[1].axhline(history[-1]["prior_effective"], color=colour, ls="--", lw=0.8,
                        label=f"{label} prior")
        for key, name, style in COLLAPSE_SIGNALS:
            if key in history[0]:
                axes[2].plot(steps, [h[key] for h in history], colour, ls=style, lw=1.0,
                             label=f"{label} {name}")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("softmap KL (nats)")
    axes[0].set_title("Loss terms")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("exp(entropy of teacher usage)")
    axes[1].set_yscale("log")
    axes[1].set_title("Effective number of prototypes")
    axes[1].legend(fontsize=7)
    axes[2].set_xlabel("step")
    axes[2].set_title("Collapse signals (entropy -> 1 and spread -> 0: collapse)")
    axes[2].legend(fontsize=7)
    _save_figure(plt, fig, path, opener)


# ----- report.md -------------------------------------------------------------------------------
def _pct(value):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def results_table(results):
    """Markdown table: method | mIoU | head | common | tail (IoU in %)."""
    lines = ["| method | mIoU | head | common | tail |", "|---|---|---|---|---|"]
    for name, r in results.items():
        g = r["groups"]
        lines.append(f"| {name} | {_pct(r['miou'])} | {_pct(g['head'])} | {_pct(g['common'])} "
                     f"| {_pct(g['tail'])} |")
    return "\n".join(lines)


def good_classes(iou, structure, threshold=0.2):
    """Classes other than the room's own (``structure``: wall, floor, ceiling) whose IoU
    ({class: IoU or None}) reaches ``threshold``, in class order: what a probe learned beyond
    the room's structure."""
    return [c for c, v in iou.items() if c not in structure and v is not None and v >= threshold]


def comparison_lines(results, main, baselines, structure):
    """One line per comparison the demo exists to show: ``main`` against each of ``baselines``
    and against every other (ablation) row (mIoU points; positive: ``main`` ahead), from the
    numbers of this run."""
    ref = results[main]["miou"]
    lines = []
    for name, r in results.items():
        if name == main:
            continue
        kind = "baseline" if name in baselines else "ablation"
        lines.append(f"- {main} vs {name} ({kind}): {100 * (ref - r['miou']):+.1f} mIoU")
    good = good_classes(results[main]["iou"], structure)
    lines.append(f"- {main}: {len(good)} classes other than {', '.join(structure)} at IoU >= 20"
                 + (f" ({', '.join(good)})" if good else ""))
    return lines + [""]


def per_class_table(results):
    names = list(results)
    lines = ["| class | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for c in next(iter(results.values()))["iou"]:
        vals = [results[n]["iou"].get(c) for n in names]
        if all(v is None for v in vals):
            continue
        lines.append(f"| {c} | " + " | ".join(_pct(v) for v in vals) + " |")
    return "\n".join(lines)


def write_report(out_dir, results, main, baselines, settings, timings, histories, usages, priors,
                 ply_scene, data, opener=atomic_write):
    """Write the report folder; returns the path of report.md.

    Args:
        results: {method: linear_probe result}.
        main, baselines: the row the comparisons are about, and the rows that are baselines
            (every other row is an ablation of ``main``).
        settings: dict of run settings (printed and stored).
        timings: {stage: seconds}.
        histories: {label: pretraining history} for the training curves.
        usages: {label: [K] teacher usage on the validation scenes}.
        priors: {label: [K] Zipf prior of the run at its last step}.
        ply_scene: (coord [N, 3], prototype [N]) of the scene to colour (``main``'s teacher).
        data: dict(description: what the scenes are, classes: the class set's name,
            structure: the classes that are the room itself).
        opener: ``opener(path, mode)`` opens a file for an atomic write.
    """
    alphas = {label: h[-1]["zipf_alpha"] for label, h in histories.items()}
    plot_prototype_usage(os.path.join(out_dir, "prototype_usage.png"), usages,
                         {alphas[label]: prior for label, prior in priors.items()}, opener)
    plot_training_curves(os.path.join(out_dir, "training_curves.png"), histories, opener)
    coord, proto = ply_scene
    write_ply(os.path.join(out_dir, "scene_prototypes.ply"), coord,
              prototype_palette(len(priors[main]))[proto], opener)

    final = {label: {k: h[-1][k] for k in ("loss", "effective_prototypes", "prior_effective",
                                              "kl_to_prior", "top_mass", "target_entropy",
                                              "teacher_spread") if k in h[-1]}
             for label, h in histories.items()}
    val_usage = {label: dict(effective_prototypes=float(np.exp(-(u[u > 0] * np.log(u[u > 0])).sum())),
                             used=int((u > 0).sum()), top1=float(u.max()))
                 for label, u in usages.items()}
    metrics = dict(results=results, settings=settings, timings=timings,
                   final_training_stats=final, validation_usage=val_usage)
    with opener(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)

    groups = next(iter(results.values()))["group_classes"]
    lines = [
        "# DOS CPU demo report",
        "",
        f"Linear probe (frozen per-point features, one linear layer) on {data['description']}: "
        f"mIoU over the {data['classes']} classes present in the validation scenes, and mean IoU "
        "over head / common / tail classes (training point frequency split into thirds). "
        "All pretrained methods have the same budget, data, seed and initialisation; the raw "
        "input row probes the backbones' own input channels (centred coordinates, colour, "
        "normal), with the same probe on the same points. Probe features are every backbone "
        "level brought back to the points (Sonata's linear-probe protocol).",
        "",
        results_table(results),
        "",
        *comparison_lines(results, main, baselines, data["structure"]),
        "Class groups: " + "; ".join(f"**{g}**: {', '.join(c)}" for g, c in groups.items()),
        "",
        "## Per-class IoU (%)",
        "",
        per_class_table(results),
        "",
        "## Pretraining (last step)",
        "",
        "| run | loss | teacher effective prototypes (batch) | prior effective | KL(usage, prior) "
        "| target entropy / log N | teacher spread |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, s in final.items():
        lines.append(f"| {label} | {s['loss']:.3f} | {s['effective_prototypes']:.1f} | "
                     f"{s['prior_effective']:.1f} | {s['kl_to_prior']:.2f} | "
                     f"{s.get('target_entropy', float('nan')):.3f} | "
                     f"{s.get('teacher_spread', float('nan')):.3f} |")
    lines += ["", "Teacher usage on the validation scenes: " + "; ".join(
        f"{label}: {v['effective_prototypes']:.1f} effective, {v['used']} used, top-1 share "
        f"{100 * v['top1']:.1f}%" for label, v in val_usage.items()), ""]
    lines += ["## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in settings.items()]
    lines += ["", "## Time", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    lines += ["", "Files: `prototype_usage.png`, `training_curves.png`, `scene_prototypes.ply` "
              "(a validation scene coloured by each point's strongest teacher prototype, "
              f"{main}), `metrics.json`.", ""]
    path = os.path.join(out_dir, "report.md")
    with opener(path, "w") as f:
        f.write("\n".join(lines))
    return path
