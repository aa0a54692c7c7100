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
from ..core.zipf_sinkhorn import zipf_sinkhorn
from ..io.atomic import atomic_write
from ..models.collapse_guard import softmap_entropy
from ..evaluation.linear_probe import scene_features

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


@torch.no_grad()
def prior_view(model, scenes, grid_size, teacher_temp):
    """What the Zipf prior does on ``scenes``, prototype by prototype (index order, the
    prior's): -> dict of [K] numpy arrays: ``usage`` (share of the scenes' points whose
    strongest teacher cosine is k), ``target_usage`` (share of grid-sampled points the balanced
    plan gives most to k: Zipf-Sinkhorn per scene at ``teacher_temp``), ``entropy`` (each
    prototype's target softmap entropy / log N, mean over the scenes) and ``prior``."""
    prior = model.params.prior
    k = model.num_prototypes
    usage, target_usage = np.zeros(k), np.zeros(k)
    entropy, views = torch.zeros(k, dtype=torch.float64), 0
    for scene in scenes:
        scores, inverse = teacher_scores(model, scene, grid_size)
        usage += prototype_counts(scores[torch.from_numpy(inverse)]).numpy()
        offset = torch.tensor([len(scores)])
        target = zipf_sinkhorn(scores.float() / teacher_temp, offset, prior, model.sinkhorn_iters, "scene")
        target_usage += torch.bincount((target * prior).argmax(1), minlength=k).numpy()
        scene_entropy, counted = softmap_entropy(target, offset)
        entropy, views = entropy + scene_entropy, views + counted
    return dict(usage=usage / max(1, usage.sum()), target_usage=target_usage / max(1, target_usage.sum()),
                entropy=(entropy / max(1, views)).numpy(), prior=prior.numpy())


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


def plot_prototype_usage(path, views, main, opener):
    """``views`` {label: `prior_view` result}. Left: ``main``'s usage by prototype index (from
    the teacher's cosines and from the balanced targets) against its prior; middle: each
    prototype's target-softmap entropy / log N by index (the sharpness the prior gives it);
    right: every run's teacher usage, sorted, against the priors (log-log)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    index = np.arange(1, len(views[main]["prior"]) + 1)
    ax = axes[0]
    ax.loglog(index, views[main]["prior"], "k--", label="Zipf prior")
    for key, name, style in (("usage", "teacher (cosine argmax)", "."), ("target_usage", "targets (plan argmax)", "x")):
        used = views[main][key] > 0
        ax.loglog(index[used], views[main][key][used], style, ms=4, label=name)
    ax.set_xlabel("prototype index + 1 (the prior's order)")
    ax.set_ylabel("share of validation points")
    ax.set_title(f"{main}: usage by prototype index")
    ax.legend(fontsize=8)
    ax = axes[1]
    for label, view in views.items():
        if np.isfinite(view["entropy"]).any():
            ax.semilogx(index, view["entropy"], ".", ms=3, label=label)
    ax.set_xlabel("prototype index + 1")
    ax.set_ylabel("target softmap entropy / log N")
    ax.set_title("Sharpness of each prototype's target softmap")
    ax.legend(fontsize=7)
    ax = axes[2]
    for i, prior in enumerate({tuple(v["prior"]) for v in views.values()}):
        ax.loglog(index, np.sort(prior)[::-1], color="k", ls=("--", ":", "-.")[i % 3], lw=1)
    for label, view in views.items():
        u = np.sort(view["usage"])[::-1]
        used = u > 0
        ax.loglog(index[used], u[used], marker=".", ms=3, lw=1, label=f"{label} ({used.sum()} used)")
    ax.set_xlabel("rank (sorted)")
    ax.set_title("Teacher usage, sorted, vs the priors (black)")
    ax.legend(fontsize=7)
    _save_figure(plt, fig, path, opener)


def prior_lines(views, head=10):
    """The report's table of what the prior does, from `prior_view` results."""
    lines = [f"| run | prior mass on prototypes 0-{head - 1} | teacher's share there | targets' share there "
             f"| softmap entropy / log N: prototypes 0-{head - 1} | second half |",
             "|---|---|---|---|---|---|"]
    for label, v in views.items():
        half = len(v["prior"]) // 2
        lines.append(f"| {label} | {100 * v['prior'][:head].sum():.1f}% | {100 * v['usage'][:head].sum():.1f}% | "
                     f"{100 * v['target_usage'][:head].sum():.1f}% | {np.nanmean(v['entropy'][:head]):.3f} | "
                     f"{np.nanmean(v['entropy'][half:]):.3f} |")
    return lines


# the collapse signals DOS-v1m1 returns each step (see ZipfSinkhornHook): target softmaps
# flattening towards uniform over the points, teacher cosines no longer varying over the points
COLLAPSE_SIGNALS = (("target_entropy", "target entropy / log N", "-"),
                    ("teacher_spread", "teacher cosine spread", "--"))


def plot_training_curves(path, histories, probes, opener):
    """``histories`` {label: list of per-step dicts}: loss terms, effective prototypes and the
    collapse signals; ``probes`` {label: [dict(step, miou)]}: the probe during pretraining."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(21, 4))
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
    for i, (label, points) in enumerate(probes.items()):
        if points:
            axes[3].plot([p["step"] for p in points], [100 * p["miou"] for p in points], f"C{i}",
                         marker="o", lw=1.2, label=label)
    axes[3].set_xlabel("step")
    axes[3].set_ylabel("mIoU (%)")
    axes[3].set_title("Linear probe during pretraining (quick probe)")
    axes[3].legend(fontsize=7)
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
    return lines


def online_probe_lines(probes, histories):
    """One line: each run's quick probe during pretraining, step by step (is it learning?)."""
    runs = [f"{label} " + " -> ".join(f"{100 * p['miou']:.1f}" for p in points)
            for label, points in probes.items() if points]
    if not runs:
        return []
    steps = ", ".join(str(p["step"]) for p in next(p for p in probes.values() if p))
    total = len(next(iter(histories.values())))
    return [f"- Probe during pretraining (mIoU after steps {steps} of {total}; a quick probe on "
            "a few scenes, not the table's): " + "; ".join(runs)]


def per_class_table(results):
    names = list(results)
    lines = ["| class | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for c in next(iter(results.values()))["iou"]:
        vals = [results[n]["iou"].get(c) for n in names]
        if all(v is None for v in vals):
            continue
        lines.append(f"| {c} | " + " | ".join(_pct(v) for v in vals) + " |")
    return "\n".join(lines)


def write_report(out_dir, results, main, baselines, settings, timings, histories, probes, views,
                 ply_scene, data, opener=atomic_write):
    """Write the report folder; returns the path of report.md.

    Args:
        results: {method: linear_probe result}.
        main, baselines: the row the comparisons are about, and the rows that are baselines
            (every other row is an ablation of ``main``).
        settings: dict of run settings (printed and stored).
        timings: {stage: seconds}.
        histories: {label: pretraining history} for the training curves.
        probes: {label: [dict(step, miou, groups)]}: the quick probe during pretraining.
        views: {label: `prior_view` of the run on the validation scenes}.
        ply_scene: (coord [N, 3], prototype [N]) of the scene to colour (``main``'s teacher).
        data: dict(description: what the scenes are, classes: the class set's name,
            structure: the classes that are the room itself).
        opener: ``opener(path, mode)`` opens a file for an atomic write.
    """
    plot_prototype_usage(os.path.join(out_dir, "prototype_usage.png"), views, main, opener)
    plot_training_curves(os.path.join(out_dir, "training_curves.png"), histories, probes, opener)
    coord, proto = ply_scene
    write_ply(os.path.join(out_dir, "scene_prototypes.ply"), coord,
              prototype_palette(len(views[main]["prior"]))[proto], opener)

    final = {label: {k: h[-1][k] for k in ("loss", "effective_prototypes", "prior_effective",
                                              "kl_to_prior", "top_mass", "target_entropy",
                                              "teacher_spread") if k in h[-1]}
             for label, h in histories.items()}
    val_usage = {label: dict(effective_prototypes=float(np.exp(-(u[u > 0] * np.log(u[u > 0])).sum())),
                             used=int((u > 0).sum()), top1=float(u.max()))
                 for label, u in ((label, v["usage"]) for label, v in views.items())}
    metrics = dict(results=results, settings=settings, timings=timings,
                   final_training_stats=final, validation_usage=val_usage, online_probe=probes,
                   prior_view={label: {k: v.tolist() for k, v in view.items()} for label, view in views.items()})
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
        *online_probe_lines(probes, histories),
        "",
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
    lines += ["## What the Zipf prior does (validation scenes, by prototype index)", "",
              "The prior orders the prototypes by index: prototype 0 carries the most mass. The "
              "final column normalisation of the Zipf-Sinkhorn divides each prototype's mass out "
              "of its target softmap, so the prior reaches the loss through the sharpness of the "
              "softmaps: a prototype given much mass answers for many points (a flatter softmap), "
              "a tail one for few (a sharper one). The teacher's own usage (argmax of its cosines) "
              "need not follow the prior; the balanced plan's (argmax of softmap x mass) does more. "
              "`prototype_usage.png` shows both by index.", "", *prior_lines(views), ""]
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
