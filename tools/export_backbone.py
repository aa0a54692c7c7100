"""Export the backbone of a DOS checkpoint for use outside DOS.

    python tools/export_backbone.py exp/scannet/dos-ptv3/model/model_last.pth \
        -o dos-ptv3-backbone.pth [--branch student|teacher] [--config exp/scannet/dos-ptv3/config.py]

Writes dict(state_dict=..., backbone_cfg=..., branch=..., source=...): `state_dict` is keyed
exactly like the backbone module (e.g. PT-v3m2's `embedding.*`, `enc.enc0.block0.*`), so
`backbone.load_state_dict(ckpt["state_dict"])` works in any codebase that builds the same
architecture; `backbone_cfg` (when --config is given and Pointcept is importable) is the
backbone's config dict from the pretraining config. Within Pointcept, load it with
CheckpointLoader(keywords="module.", replacement="module.backbone.").
"""

import argparse
import os

from pointcept_dos.io.checkpoints import BRANCHES, backbone_state_dict, read_checkpoint, write_checkpoint


def backbone_config(config_path):
    from pointcept.utils.config import Config

    return Config.fromfile(config_path).model.backbone.to_dict()


def output_problem(output, checkpoint):
    """Why `output` cannot take the export, or None: checked before any work is done."""
    if os.path.isdir(output):
        return (f"-o {output!r} is a folder: expected the path of the backbone file to write, "
                f"e.g. {os.path.join(output, 'backbone.pth')!r}")
    if os.path.exists(output) and os.path.exists(checkpoint) and os.path.samefile(output, checkpoint):
        return (f"-o {output!r} is the input checkpoint {checkpoint!r}: the export would replace "
                "the full checkpoint (student, teacher, optimizer) by its backbone; choose another path")
    folder = os.path.dirname(os.path.abspath(output))
    while not os.path.exists(folder):  # atomic_write makes missing folders, not over a file
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"-o {output!r}: {folder!r} is a file, so no folder can be made there"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="DOS checkpoint (.pth) written by Pointcept's trainer")
    parser.add_argument("-o", "--output", required=True, help="where to write the backbone .pth")
    parser.add_argument("--branch", choices=BRANCHES, default="student",
                        help="student (what probe configs load, default) or teacher (the EMA)")
    parser.add_argument("--config", help="the pretraining config, to store the backbone's config")
    args = parser.parse_args(argv)
    problem = output_problem(args.output, args.checkpoint)
    if problem:
        parser.error(problem)
    try:  # a missing, foreign or unsafe checkpoint: one line naming it, exit code 2
        checkpoint = read_checkpoint(args.checkpoint)
        state = backbone_state_dict(checkpoint["state_dict"], args.branch)
    except (OSError, ValueError, KeyError) as err:
        parser.error(err.args[0] if err.args else str(err))
    cfg = backbone_config(args.config) if args.config else None
    write_checkpoint(args.output, state, backbone_cfg=cfg, branch=args.branch,
                     source=os.path.basename(args.checkpoint), epoch=checkpoint.get("epoch"))
    params = sum(v.numel() for v in state.values())
    print(f"Exported {args.branch}.backbone: {len(state)} tensors, {params / 1e6:.2f} M values "
          f"-> {args.output}")


if __name__ == "__main__":
    main()
