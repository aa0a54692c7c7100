"""CPU demo of DOS: synthetic scenes -> views -> pretraining -> linear probe -> report.

Modules: ``views`` (data pipeline), ``pretrain`` (training loop), ``probe`` (linear probe and
IoU metrics), ``report`` (report folder). The command line is ``pointcept-dos demo``.
"""
