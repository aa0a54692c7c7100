"""DOS-v1m1: masked self-distillation of observable softmaps of Zipfian prototypes.

Student and teacher share one structure (backbone + prototype head); the teacher is an EMA of
the student. Per batch of scenes, each with two global views (Pointcept's MultiViewGenerator):

1. The teacher sees both full views (no grad) and scores its loss points against the K
   prototypes: cos / tau_T.
2. Patch masking hides `mask_ratio` of each view's `mask_size` cubes; the student sees only the
   visible points (they are removed, not replaced by a mask token) and scores its loss points:
   cos / tau_S.
3. Each student loss point is matched to the nearest teacher loss point by original
   coordinate within `match_radius`, in the same view (same-view term) and in the other view
   (cross-view term). Zipf-Sinkhorn turns the matched teacher scores into target softmaps,
   and the loss is the softmap KL, per view, weighted `same_view_weight` / `cross_view_weight`.

Hyper-parameters follow the schedules of the method: tau_T warms up linearly, the EMA momentum
follows a cosine to 1, alpha is constant unless a hook overrides it. They are functions of the
global step, set by `set_step`, so a resumed run continues where it stopped.
"""

import torch
import torch.distributed as dist
import torch.nn as nn

from ..backbones import build_backbone
from ..core.ema import ema_update_
from ..core.masking import patch_visibility
from ..core.neighbours import knn
from ..core.prototype_head import PrototypeHead
from ..core.prototype_usage import prototype_counts
from ..core.schedules import cosine_schedule, warmup_schedule
from ..core.softmap_loss import SoftmapDistillationLoss
from ..core.validation import check_choice, check_positive_int, check_real
from ..core.voxel_grid import grid_coord
from ..core.zipf_prior import zipf_prior
from ..core.zipf_sinkhorn import zipf_sinkhorn
from .loss_points import loss_points

VIEW_KEYS = ("global_coord", "global_origin_coord", "global_feat", "global_offset")


class DOSv1m1(nn.Module):
    """DOS pretraining model; registered in Pointcept's MODELS as "DOS-v1m1".

    Args:
        backbone: backbone config, built by registry name ("PT-v3m2", "SpUNet-v1m1",
            "DOS-SpUNet-lite", ...). PT-v3m2 needs enc_mode=True and traceable=True.
        head_in_channels: width of the backbone features at the loss points (PT-v3m2 with
            the default up_cast_level=2: enc_channels[-3:] summed, 1088 for the base model).
        head_hidden_channels, head_embed_channels, num_prototypes: the prototype head (K=1024).
        teacher_custom: backbone config overrides for the teacher (e.g. drop_path=0).
        mask_size: patch side in metres (0.4 indoor, 1.0 outdoor); mask_ratio in [0, 1).
        zipf_alpha: Zipf exponent of the prototype prior (1.3; 0 is uniform Sinkhorn).
        sinkhorn_iters, sinkhorn_scope: Zipf-Sinkhorn rounds and balance scope
            ("batch": the whole distributed batch, "scene": each view on its own).
        teacher_temp_start, teacher_temp_base, teacher_temp_warmup_ratio: tau_T schedule.
        student_temp: tau_S.
        momentum_base, momentum_final: EMA momentum cosine schedule.
        same_view_weight, cross_view_weight: weights of the two terms (1/2 each).
        match_radius: metres; student points farther than this from any teacher point of the
            matched view carry no loss (0.32 = 4 loss-resolution voxels, as Sonata).
        up_cast_level: PTv3 encoder levels concatenated back for the loss (2, as Sonata).
        loss_pool_stride: for backbones that answer at input resolution (SpUNet, ours), the
            loss voxels in input voxels (4: 0.08 m indoor, 0.2 m outdoor, as the paper).
        mask_seed: seed of the masking generator; None draws it from torch's global seed.
    """

    def __init__(
        self,
        backbone,
        head_in_channels,
        head_hidden_channels=2048,
        head_embed_channels=256,
        num_prototypes=1024,
        teacher_custom=None,
        mask_size=0.4,
        mask_ratio=0.7,
        zipf_alpha=1.3,
        sinkhorn_iters=3,
        sinkhorn_scope="batch",
        teacher_temp_start=0.04,
        teacher_temp_base=0.07,
        teacher_temp_warmup_ratio=0.05,
        student_temp=0.1,
        momentum_base=0.994,
        momentum_final=1.0,
        same_view_weight=0.5,
        cross_view_weight=0.5,
        match_radius=0.32,
        up_cast_level=2,
        loss_pool_stride=4,
        mask_seed=None,
    ):
        super().__init__()
        check_positive_int("num_prototypes", num_prototypes)
        check_real("mask_size", mask_size, low=0.0, low_open=True)
        check_real("mask_ratio", mask_ratio, low=0.0, high=1.0, high_open=True)
        check_real("zipf_alpha", zipf_alpha, low=0.0)
        check_positive_int("sinkhorn_iters", sinkhorn_iters)
        check_choice("sinkhorn_scope", sinkhorn_scope, {"batch", "scene"})
        for name, value in dict(
            teacher_temp_start=teacher_temp_start,
            teacher_temp_base=teacher_temp_base,
            student_temp=student_temp,
            match_radius=match_radius,
        ).items():
            check_real(name, value, low=0.0, low_open=True)
        check_real("teacher_temp_warmup_ratio", teacher_temp_warmup_ratio, low=0.0, high=1.0)
        check_real("momentum_base", momentum_base, low=0.0, high=1.0)
        check_real("momentum_final", momentum_final, low=0.0, high=1.0)
        check_real("same_view_weight", same_view_weight, low=0.0)
        check_real("cross_view_weight", cross_view_weight, low=0.0)
        if same_view_weight + cross_view_weight <= 0:
            raise ValueError("same_view_weight + cross_view_weight must be > 0, got 0")

        self.num_prototypes = num_prototypes
        self.mask_size, self.mask_ratio = mask_size, mask_ratio
        self.sinkhorn_iters, self.sinkhorn_scope = sinkhorn_iters, sinkhorn_scope
        self.term_weights = dict(same_view=same_view_weight, cross_view=cross_view_weight)
        self.match_radius = match_radius
        self.up_cast_level = up_cast_level
        check_positive_int("loss_pool_stride", loss_pool_stride)
        self.loss_pool_stride = loss_pool_stride
        self.criterion = SoftmapDistillationLoss(student_temp=student_temp)

        # schedules as functions of (step, total_steps); a hook may replace any of them
        self.schedules = dict(
            teacher_temp=warmup_schedule(
                teacher_temp_start, teacher_temp_base, teacher_temp_warmup_ratio
            ),
            momentum=cosine_schedule(momentum_base, momentum_final),
            zipf_alpha=warmup_schedule(zipf_alpha, zipf_alpha, 0.0),
        )
        self.teacher_temp, self.momentum, self.zipf_alpha = (
            teacher_temp_start, momentum_base, zipf_alpha,
        )
        self._prior_cache = (None, None)

        head = dict(
            in_channels=head_in_channels,
            hidden_channels=head_hidden_channels,
            embed_channels=head_embed_channels,
            num_prototypes=num_prototypes,
        )
        teacher_backbone = dict(backbone, **(teacher_custom or {}))
        self.student = nn.ModuleDict(
            dict(backbone=build_backbone(backbone), head=PrototypeHead(**head))
        )
        self.teacher = nn.ModuleDict(
            dict(backbone=build_backbone(teacher_backbone), head=PrototypeHead(**head))
        )
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad_(False)

        self.mask_generator = torch.Generator()
        self.mask_generator.manual_seed(torch.initial_seed() if mask_seed is None else mask_seed)
        # teacher's hard prototype counts since the last read; not saved in checkpoints
        self.register_buffer("usage_counts", torch.zeros(num_prototypes), persistent=False)

    # ----- checkpoint state beyond parameters ------------------------------------------
    def get_extra_state(self):
        """The masking generator's state travels in `state_dict()` (key `_extra_state`), so a
        resumed run continues the mask sequence instead of replaying the masks of step 0."""
        return dict(mask_generator=self.mask_generator.get_state())

    def set_extra_state(self, state):
        if not isinstance(state, dict) or "mask_generator" not in state:
            raise ValueError(
                f"DOS-v1m1 extra state must be dict(mask_generator=ByteTensor), got {state!r:.80}"
            )
        self.mask_generator.set_state(state["mask_generator"])

    # ----- schedules -------------------------------------------------------------------
    def set_step(self, step, total_steps):
        """Evaluate every schedule at global `step` of `total_steps`."""
        self.teacher_temp = float(self.schedules["teacher_temp"](step, total_steps))
        self.momentum = float(self.schedules["momentum"](step, total_steps))
        self.zipf_alpha = float(self.schedules["zipf_alpha"](step, total_steps))

    @property
    def prior(self):
        """[K] Zipf prior at the current alpha (cached while alpha is unchanged)."""
        alpha, prior = self._prior_cache
        if alpha != self.zipf_alpha:
            prior = zipf_prior(self.num_prototypes, self.zipf_alpha)
            self._prior_cache = (self.zipf_alpha, prior)
        return prior

    @torch.no_grad()
    def update_teacher(self):
        """EMA step of the teacher towards the student at the current momentum."""
        ema_update_(self.teacher, self.student, self.momentum)

    def take_usage(self, group=None):
        """[K] teacher prototype usage since the last call (sums to 1), then resets it.
        With a process group, the counts of all processes are summed first."""
        counts = self.usage_counts.double()
        self.usage_counts.zero_()
        if group is not None:
            dist.all_reduce(counts, group=group)
        return counts / counts.sum().clamp_min(1.0)

    # ----- forward ---------------------------------------------------------------------
    @staticmethod
    def _views(data_dict):
        missing = [k for k in VIEW_KEYS if k not in data_dict]
        if missing:
            raise KeyError(
                f"DOS-v1m1 needs the keys {list(VIEW_KEYS)} (MultiViewGenerator with two "
                f"global views, then Collect with global_feat_keys); missing {missing}"
            )
        offset = data_dict["global_offset"].long()
        if len(offset) % 2:
            raise ValueError(
                f"global_offset must hold two views per scene (an even count), got {len(offset)}"
            )
        grid_size = data_dict.get("grid_size", None)
        if grid_size is None:
            raise KeyError("DOS-v1m1 needs 'grid_size' in the batch (Update keys_dict grid_size)")
        if isinstance(grid_size, torch.Tensor):
            grid_size = float(grid_size.reshape(-1)[0])
        coord = data_dict["global_coord"]
        # one voxel grid for the whole batch, shared by teacher and student so that the
        # student's visible voxels are exactly the teacher's
        return dict(
            coord=coord,
            origin_coord=data_dict["global_origin_coord"],
            feat=data_dict["global_feat"],
            offset=offset,
            grid_coord=grid_coord(coord, grid_size),
            grid_size=grid_size,
        )

    @staticmethod
    def _kept_offset(keep, offset):
        """[N] bool mask and [S] offset -> [S] offset of the kept points."""
        counts = torch.stack([seg.sum() for seg in torch.tensor_split(keep, offset[:-1].cpu())])
        return torch.cumsum(counts, 0).to(offset)

    def _subset(self, view, keep):
        subset = {k: v[keep] for k, v in view.items() if torch.is_tensor(v) and k != "offset"}
        subset.update(offset=self._kept_offset(keep, view["offset"]), grid_size=view["grid_size"])
        return subset

    def _encode(self, branch, view):
        out = branch["backbone"](dict(view))
        points = loss_points(out, view, self.up_cast_level, self.loss_pool_stride)
        points["cos"] = branch["head"](points["feat"])
        return points

    def _sinkhorn_group(self):
        if self.sinkhorn_scope == "batch" and dist.is_initialized() and dist.get_world_size() > 1:
            return dist.group.WORLD
        return None

    def _term(self, student, teacher, segment_pairs):
        """Softmap loss of student loss points against the teacher's matched points."""
        index, distance = knn(
            student["origin_coord"].float(), student["offset"],
            teacher["origin_coord"].float(), teacher["offset"],
            k=1, segment_pairs=segment_pairs,
        )
        keep = distance[:, 0] < self.match_radius
        offset = self._kept_offset(keep, student["offset"])
        target = zipf_sinkhorn(
            teacher["cos"][index[keep, 0]].float() / self.teacher_temp,
            offset,
            self.prior,
            num_iters=self.sinkhorn_iters,
            scope=self.sinkhorn_scope,
            group=self._sinkhorn_group(),
        )
        return self.criterion(student["cos"][keep], dict(softmap=target, offset=offset))

    def forward(self, data_dict):
        view = self._views(data_dict)
        with torch.no_grad():
            teacher = self._encode(self.teacher, view)
            self.usage_counts += prototype_counts(teacher["cos"]).to(self.usage_counts)
        visible = patch_visibility(
            view["coord"].float(), view["offset"], self.mask_size, self.mask_ratio,
            self.mask_generator,
        )
        student = self._encode(self.student, self._subset(view, visible))
        num_segments = len(view["offset"])
        pairs = dict(
            same_view=list(range(num_segments)),
            cross_view=[s + 1 if s % 2 == 0 else s - 1 for s in range(num_segments)],
        )
        result = dict()
        loss = 0.0
        for name, weight in self.term_weights.items():
            if weight > 0:
                result[f"{name}_loss"] = self._term(student, teacher, pairs[name])
                loss = loss + weight * result[f"{name}_loss"]
        result["loss"] = loss
        return result
