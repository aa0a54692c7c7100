"""Prototype head: MLP projection, L2-normalised embedding, K unit-norm prototypes."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import check_positive_int


class PrototypeHead(nn.Module):
    """Cosine similarity of projected point features to K learnable prototypes.

    Args:
        in_channels: C, the backbone's feature width.
        hidden_channels: width of the MLP's hidden layers.
        embed_channels: D, width of the L2-normalised embedding.
        num_prototypes: K (1024 in the paper).
        num_layers: linear layers in the MLP (>= 1; GELU between them).
    Forward:
        [N, C] features -> [N, K] cosine similarities in [-1, 1]; divide by a temperature to
        get logits. Prototypes are re-normalised on every call, so their norm is fixed at 1
        and only their direction is learnt.
    """

    def __init__(
        self, in_channels, hidden_channels=2048, embed_channels=256, num_prototypes=1024, num_layers=3
    ):
        super().__init__()
        for name, value in dict(
            in_channels=in_channels,
            hidden_channels=hidden_channels,
            embed_channels=embed_channels,
            num_prototypes=num_prototypes,
            num_layers=num_layers,
        ).items():
            check_positive_int(name, value)
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [embed_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.prototypes = nn.Parameter(torch.empty(num_prototypes, embed_channels))
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.prototypes)

    def embed(self, feat):
        """[N, C] -> [N, D] unit-norm embeddings."""
        return F.normalize(self.mlp(feat), dim=-1, eps=1e-6)

    def forward(self, feat):
        return self.embed(feat) @ F.normalize(self.prototypes, dim=-1, eps=1e-6).t()
