"""Shared start-up of tools/train.py and tools/test.py (not a public module).

``--num-gpus 0`` asks for pointcept-dos CPU mode, whose patches (a stand-in for the CUDA-only
``pointops``, the torchvision schema shim) must be in place before Pointcept is imported.
``pointcept_dos.integration.cpu_mode`` imports nothing of Pointcept, so it is imported and
applied first; then ``pointcept_dos.integration.registration`` registers DOS in Pointcept's
registries.
"""

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


def bootstrap(argv=None):
    """Install the stand-ins DOS_STANDINS asks for (none by default), enable CPU mode if asked,
    then register DOS. Returns the cpu_mode module or None."""
    from pointcept_dos.integration.standins import install_requested_standins

    installed = install_requested_standins()
    if installed:  # named in the log, so that no figure is taken for the real extension's
        print("pointcept-dos stand-ins (DOS_STANDINS): " + "; ".join(
            f"{name}: {what}" for name, what in installed.items()), file=sys.stderr, flush=True)
    cpu_mode = None
    if cpu_mode_requested(argv):
        from pointcept_dos.integration import cpu_mode

        # -g 0 is an explicit request: allowed on a GPU machine too (a CPU debug run there)
        cpu_mode.enable_cpu_mode(allow_cuda=True)
    import pointcept_dos.integration.registration  # noqa: F401  MODELS / LOSSES / HOOKS

    return cpu_mode


def launch_from_command_line(main_worker, cpu_mode):
    """Pointcept's main() of tools/train.py and tools/test.py: parse its arguments and config,
    then launch `main_worker(cfg)` on --num-gpus processes per machine. `--num-gpus 0` (CPU
    mode, `cpu_mode` from bootstrap()) adapts the config to the CPU and runs one process, or
    DOS_CPU_PROCESSES processes over gloo; on GPUs, a config that needs flash-attn where it is
    missing stops here (flash_attention.py)."""
    from pointcept.engines.defaults import default_argument_parser, default_config_parser
    from pointcept.engines.launch import launch

    args = default_argument_parser().parse_args()
    cfg = default_config_parser(args.config_file, args.options)
    num_gpus = args.num_gpus
    if num_gpus == 0:
        processes = cpu_mode.cpu_process_count()  # DOS_CPU_PROCESSES, default 1
        cpu_mode.cpu_config(cfg, processes=processes)
        if processes > 1:
            if args.num_machines != 1:
                raise SystemExit("DOS_CPU_PROCESSES > 1 runs on one machine (-m 1)")
            cpu_mode.launch_cpu_processes(main_worker, processes, args.dist_url, (cfg,))
            return
        num_gpus = 1  # one process; launch() then runs main_worker in-process, no DDP
    else:
        from pointcept_dos.integration.flash_attention import stop_without_flash_attention

        stop_without_flash_attention(cfg)  # no flash-attn here: stop, naming the option
    launch(
        main_worker,
        num_gpus_per_machine=num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        cfg=(cfg,),
    )
