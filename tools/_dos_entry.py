"""Shared start-up of tools/train.py and tools/test.py (not a public module).

``--num-gpus 0`` asks for pointcept-dos CPU mode. Its patches (a stand-in for the CUDA-only
``pointops``, the torchvision schema shim) must be in place before Pointcept is imported, and
importing ``pointcept_dos`` registers our classes in Pointcept's registries, which imports
Pointcept. So ``pointcept_dos/cpu_mode.py`` is loaded here by file, without running the package
``__init__``, and applied first; only then is ``pointcept_dos`` imported.
"""

import importlib.util
import os
import sys


def cpu_mode_requested(argv=None):
    """True when the command line asks for --num-gpus 0 (train.sh / test.sh: -g 0)."""
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--num-gpus" and i + 1 < len(argv):
            return argv[i + 1].strip() == "0"
        if arg.startswith("--num-gpus="):
            return arg.split("=", 1)[1].strip() == "0"
    return False


def load_cpu_mode():
    """Import pointcept_dos.cpu_mode without executing pointcept_dos/__init__.py."""
    name = "pointcept_dos.cpu_mode"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("pointcept_dos")
    if package is None or not package.submodule_search_locations:
        raise ImportError(
            "pointcept_dos is not importable: run `pip install -e .` in the pointcept-dos checkout"
        )
    path = os.path.join(list(package.submodule_search_locations)[0], "cpu_mode.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bootstrap(argv=None):
    """Enable CPU mode if asked, then import pointcept_dos. Returns the cpu_mode module or None."""
    cpu_mode = None
    if cpu_mode_requested(argv):
        cpu_mode = load_cpu_mode()
        # -g 0 is an explicit request: allowed on a GPU machine too (a CPU debug run there)
        cpu_mode.enable_cpu_mode(allow_cuda=True)
    import pointcept_dos  # noqa: F401  registers our models/hooks in Pointcept's registries

    if cpu_mode is not None and not hasattr(pointcept_dos, "cpu_mode"):
        pointcept_dos.cpu_mode = cpu_mode
    return cpu_mode


def launch_from_command_line(main_worker, cpu_mode):
    """Pointcept's main() of tools/train.py and tools/test.py: parse its arguments and config,
    then launch `main_worker(cfg)` on --num-gpus processes per machine. `--num-gpus 0` (CPU
    mode, `cpu_mode` from bootstrap()) adapts the config to the CPU and runs one process."""
    from pointcept.engines.defaults import default_argument_parser, default_config_parser
    from pointcept.engines.launch import launch

    args = default_argument_parser().parse_args()
    cfg = default_config_parser(args.config_file, args.options)
    num_gpus = args.num_gpus
    if num_gpus == 0:
        cpu_mode.cpu_config(cfg)
        num_gpus = 1  # one process; launch() then runs main_worker in-process, no DDP
    launch(
        main_worker,
        num_gpus_per_machine=num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        cfg=(cfg,),
    )
