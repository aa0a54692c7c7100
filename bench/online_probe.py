"""What OnlineProbeHook costs: one probe call at the configs' sizes (needs Pointcept; CPU mode
when no GPU).

One call of the hook's probe (its defaults: 4 train + 2 held-out scenes, 200 L-BFGS iterations
on at most 100,000 points) with the backbone of a DOS pretrain config (PT-v3m2 base of
scannet-pretrain.py, SpUNet-v1m1 of scannet-pretrain-spunet.py) on synthetic ScanNet-layout
scenes at the config's grid and input channels (read off the config as the hook reads them), the
time split into features (BatchNorm re-estimation included) and the classifier's fit. Its share of a run is this over the training time between
two calls: `interval` trainer epochs of the config (ScanNet: 100 iterations each), the step
time from bench/step.py at the same backbone.

    POINTCEPT_ROOT=... python bench/online_probe.py --threads 2
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def probe_call(config, threads, scenes):
    """Seconds of one probe call (features, fit) with the config's backbone at full size."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import torch

    from pointcept_dos.integration import cpu_mode

    if not torch.cuda.is_available():
        cpu_mode.enable_cpu_mode()
    import pointcept_dos.integration.registration  # noqa: F401
    from pointcept_dos.integration import probe_hook
    from pointcept.models.builder import build_model
    from pointcept.utils.config import Config

    from pointcept_dos.data.pointcept_layout import LAYOUTS
    from pointcept_dos.demo.scene_source import dataset_source, load_split
    from pointcept_dos.evaluation import linear_probe
    from pointcept_dos.synthetic import write_scannet_layout

    probe_module = sys.modules["pointcept_dos.evaluation.linear_probe"]  # the module, not its function
    torch.set_num_threads(threads)
    cfg = Config.fromfile(os.path.join(ROOT, "configs", "dos", config))
    backbone = build_model(cfg.model.backbone).eval()
    if torch.cuda.is_available():
        backbone = backbone.cuda()
    root = tempfile.mkdtemp(prefix="dos-probe-bench-")
    write_scannet_layout(root, num_scenes=dict(train=scenes[0], val=scenes[1]), seed=0)
    source = dataset_source(root, max_points=100_000)
    train, val = load_split(source, "train", labels=True), load_split(source, "val", labels=True)
    fit_seconds = []
    fit = probe_module._fit_linear

    def timed_fit(*args, **kwargs):
        start = time.perf_counter()
        head = fit(*args, **kwargs)
        fit_seconds.append(time.perf_counter() - start)
        return head

    probe_module._fit_linear = timed_fit
    start = time.perf_counter()
    # the inputs and grid the hook reads off the config (SpUNet's configs take colour + normal)
    result = linear_probe(backbone, train, val, probe_hook._grid_size(cfg), LAYOUTS["scannet"].class_names,
                          iters=200, max_train_points=100_000, input_keys=probe_hook._feat_keys(cfg))
    total = time.perf_counter() - start
    points = sum(len(s["coord"]) for s in train + val)
    return dict(config=config, backbone=cfg.model.backbone.type, total_s=total, fit_s=fit_seconds[0],
                features_s=total - fit_seconds[0], feature_dim=result["feature_dim"], points=points)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["scannet-pretrain.py", "scannet-pretrain-spunet.py"])
    parser.add_argument("--scenes", type=int, nargs=2, default=[4, 2], metavar=("TRAIN", "VAL"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("POINTCEPT_ROOT"):
        sys.exit("bench/online_probe.py needs POINTCEPT_ROOT (a Pointcept checkout)")
    sys.path.insert(0, os.environ["POINTCEPT_ROOT"])
    print("| config | backbone | points | feature dim | features s | fit s | call s |\n|---|---|---:|---:|---:|---:|---:|")
    for config in args.config:
        r = probe_call(config, args.threads, args.scenes)
        print(f"| {r['config']} | {r['backbone']} | {r['points']} | {r['feature_dim']} | "
              f"{r['features_s']:.1f} | {r['fit_s']:.1f} | {r['total_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
