"""CPU demo of DOS: synthetic scenes -> views -> pretraining -> linear probe -> report.

Modules: ``views`` (data pipeline), ``pretrain`` (training loop, exact resume), ``probe``
(linear probe and IoU metrics), ``report`` (report folder), ``output_folder`` (what ``--out``
may hold; the scenes it may read back), ``run`` (orchestration). The command line is
``pointcept-dos demo``.
"""
