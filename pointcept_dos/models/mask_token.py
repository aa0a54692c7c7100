"""The learnable mask token of the "mask_token" student input (the paper's first ablation).

It differs from Sonata's token in three ways, all documented, none tuned: it replaces the raw
input features of a masked point (before the backbone's stem; Sonata's replaces the point
embedding after it), it is drawn from a truncated normal (Sonata's starts at zero), and masked
points keep their coordinates (Sonata jitters them). A backbone-independent token has to sit on
the input: the stem is the backbone's own (PT-v3m2, SpUNet-v1m1, ours).
"""

import torch
import torch.nn as nn

from ..core.validation import check_positive_int


class MaskToken(nn.Module):
    """Replaces the input features of masked points by one learnable vector.

    Args:
        in_channels: C, the width of the backbone's input features.
    Forward:
        feat [N, C], masked [N] bool -> [N, C] with masked rows set to the token [1, C].
    """

    def __init__(self, in_channels):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        self.token = nn.Parameter(torch.zeros(1, in_channels))
        nn.init.trunc_normal_(self.token, std=0.02)  # as Sonata's mask token

    def forward(self, feat, masked):
        if feat.shape[1] != self.token.shape[1]:
            raise ValueError(
                f"global_feat has {feat.shape[1]} channels but the mask token was built for "
                f"backbone in_channels={self.token.shape[1]}"
            )
        return torch.where(masked[:, None], self.token.to(feat.dtype), feat)
