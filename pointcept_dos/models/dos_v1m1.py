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

The values that change per step (tau_T, the EMA momentum, alpha) live in `self.params`
(`step_params.StepParams`), set once per step by the trainer through `step_sequence`; a forward
pass reads them and leaves what it measured in `self.last_record` for the `monitor`.

Degenerate batches never stop a run: a (term, view) pair with too few matched points (views of
a few points, crops that do not overlap, a tiny match_radius) contributes nothing, is counted in
`empty_terms`, and the term stays in the autograd graph (0 x the student's scores), so that DDP
ranks stay in step. A step whose every term is empty returns a loss of 0 with `empty_step` = 1
and a warning. Everything else wrong with a batch (NaN, grid_size, offsets) is an error that
names the batch key (`batch_checks`).
"""

import inspect
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn

from ..backbones import build_backbone
from ..core.ema import ema_update_
from ..core.masking import patch_visibility
from ..core.neighbours import knn
from ..core.prototype_head import PrototypeHead
from ..core.prototype_usage import prototype_counts
from ..core.segments import offset_to_batch, offset_to_bounds
from ..core.validation import check_choice, check_positive_int, check_real
from ..core.voxel_grid import grid_coord
from .batch_checks import VIEW_KEYS, check_views
from .collapse_guard import softmap_entropy, teacher_spread
from .loss_points import loss_points
from .mask_token import MaskToken
from .monitor import StepRecord
from .objectives import MIN_POINTS, OBJECTIVE_FUNCTIONS, OBJECTIVES
from .step_params import RENAMED_KEYS, StepParams, refuse_unknown_keys

__all__ = ["DOSv1m1", "VIEW_KEYS", "resolved_config", "upgrade_model_config"]

STUDENT_INPUTS = ("drop", "mask_token")


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
        zipf_alpha: Zipf exponent of the prototype prior (1.3; 0 is uniform Sinkhorn), a
            number or dict(start, end, warmup_ratio). The paper's third ablation: 1.3 against 0.
        sinkhorn_iters, sinkhorn_scope: Zipf-Sinkhorn rounds and balance scope
            ("batch": the whole distributed batch, "scene": each view on its own).
        teacher_temp: tau_T, dict(start, end, warmup_ratio) (linear warm-up over that share of
            the run, then end) or a number (constant).
        student_temp: tau_S. Keep tau_S / tau_T >= 2.5 (see `collapse_guard`).
        momentum: EMA momentum, dict(start, end) (cosine over the run) or a number.
        same_view_weight, cross_view_weight: weights of the two terms (1/2 each).
        match_radius: metres; student points farther than this from any teacher point of the
            matched view carry no loss (0.32 = 4 loss-resolution voxels, as Sonata).
        up_cast_level: PTv3 encoder levels concatenated back for the loss (2, as Sonata).
        loss_pool_stride: for backbones that answer at input resolution (SpUNet, ours), the
            loss voxels in input voxels (4: 0.08 m indoor, 0.2 m outdoor, as the paper).
        mask_seed: seed of the masking generator; None draws it from torch's global seed.
        student_input: the paper's first ablation. "drop" (DOS): masked points are removed
            from the student's input and the loss is taken at its visible points only.
            "mask_token" (Sonata): the student sees every point, the input features of masked
            points replaced by a learnable token [1, C_in] (C_in = backbone in_channels; kept
            at `student.mask_token.token`), and the loss is taken at all matched points,
            masked and visible.
        objective: the paper's second ablation (see `objectives`). "softmap" (DOS): per
            prototype, a distribution over the view's points, KL to the Zipf-Sinkhorn softmap.
            "per_point" (Sonata / DINO): per point, a distribution over prototypes (softmax of
            cos / tau_S), KL to the Sinkhorn assignment (the normalised rows of the balanced
            plan), i.e. the cross-entropy up to the target's entropy; mean over a view's
            points, then over views.
        collapse_guard: None (off) or dict of `CollapseGuard`'s arguments (dict() for the
            defaults): while the collapse signals cross their thresholds, cap and lower the
            teacher temperature; a run whose signals stay healthy is unchanged.
    Forward:
        a Pointcept batch with global_coord / global_origin_coord [N, 3] metres, global_feat
        [N, C_in], global_offset [2 x scenes] (two views per scene) and grid_size (metres).
        -> dict of scalar tensors: `loss` and `<term>_loss` (nats, in the graph), and, detached:
        `empty_terms` (number of (term, view) pairs without enough matched points),
        `empty_step` (1 when every one was empty: the loss is then 0) and, when some view
        measured them, the collapse signals `target_entropy` (entropy / log N of the target
        softmaps, -> 1 in a collapse) and `teacher_spread` (std of the teacher's cosines over a
        view's points in units of 1/sqrt(head_embed_channels), -> 0 in a collapse). The same
        and the teacher's prototype usage are left in `last_record` (`monitor.StepRecord`).
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
        teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=0.05),  # never mutated
        student_temp=0.1,
        momentum=dict(start=0.994, end=1.0),  # never mutated
        same_view_weight=0.5,
        cross_view_weight=0.5,
        match_radius=0.32,
        up_cast_level=2,
        loss_pool_stride=4,
        mask_seed=None,
        student_input="drop",
        objective="softmap",
        collapse_guard=None,
        **unknown,
    ):
        super().__init__()
        refuse_unknown_keys(unknown)
        check_positive_int("num_prototypes", num_prototypes)
        check_real("mask_size", mask_size, low=0.0, low_open=True)
        check_real("mask_ratio", mask_ratio, low=0.0, high=1.0, high_open=True)
        check_positive_int("sinkhorn_iters", sinkhorn_iters)
        check_choice("sinkhorn_scope", sinkhorn_scope, {"batch", "scene"})
        check_choice("student_input", student_input, set(STUDENT_INPUTS))
        check_choice("objective", objective, set(OBJECTIVES))
        check_real("match_radius", match_radius, low=0.0, low_open=True)
        check_real("same_view_weight", same_view_weight, low=0.0)
        check_real("cross_view_weight", cross_view_weight, low=0.0)
        if same_view_weight + cross_view_weight <= 0:
            raise ValueError("same_view_weight + cross_view_weight must be > 0, got 0")

        self.num_prototypes = num_prototypes
        self.embed_channels = head_embed_channels
        self.mask_size, self.mask_ratio = mask_size, mask_ratio
        self.sinkhorn_iters, self.sinkhorn_scope = sinkhorn_iters, sinkhorn_scope
        self.term_weights = dict(same_view=same_view_weight, cross_view=cross_view_weight)
        self.match_radius = match_radius
        self.up_cast_level = up_cast_level
        check_positive_int("loss_pool_stride", loss_pool_stride)
        self.loss_pool_stride = loss_pool_stride
        self.student_input, self.objective = student_input, objective
        self.params = StepParams(num_prototypes, student_temp, teacher_temp, momentum,
                                 zipf_alpha, collapse_guard)
        self.last_record = None  # what the last forward measured (`monitor.StepRecord`)

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
        if student_input == "mask_token":
            # in the student (trained with it), not in the teacher (which sees full views)
            in_channels = backbone.get("in_channels") if isinstance(backbone, dict) else None
            if in_channels is None:
                raise ValueError(
                    "student_input='mask_token' needs backbone.in_channels (the width of the "
                    "mask token), got a backbone config without it"
                )
            self.student["mask_token"] = MaskToken(in_channels)

        self.mask_generator = torch.Generator()
        self.mask_generator.manual_seed(torch.initial_seed() if mask_seed is None else mask_seed)

    # ----- checkpoint state beyond parameters ------------------------------------------
    def get_extra_state(self):
        """The masking generator's state (and the collapse guard's temperature cap) travel in
        `state_dict()` (key `_extra_state`), so a resumed run continues the mask sequence
        instead of replaying the masks of step 0."""
        return dict(mask_generator=self.mask_generator.get_state(), **self.params.state_dict())

    def set_extra_state(self, state):
        if not isinstance(state, dict) or not torch.is_tensor(state.get("mask_generator")):
            raise ValueError(
                f"DOS-v1m1 extra state must be dict(mask_generator=ByteTensor), got {state!r:.80}"
            )
        # a loader may have mapped every tensor to the GPU (Pointcept's CheckpointLoader does);
        # a generator takes its state as a CPU ByteTensor only
        self.mask_generator.set_state(state["mask_generator"].to("cpu", torch.uint8))
        self.params.load_state_dict(state)

    @torch.no_grad()
    def update_teacher(self):
        """EMA step of the teacher towards the student at the momentum in force."""
        for name in self.teacher:
            ema_update_(self.teacher[name], self.student[name], self.params.momentum)

    @staticmethod
    def _distributed():
        return dist.is_initialized() and dist.get_world_size() > 1

    # ----- forward ---------------------------------------------------------------------
    @staticmethod
    def _kept_offset(keep, offset):
        """[N] bool mask and [S] offset -> [S] offset of the kept points."""
        counts = torch.stack([seg.sum() for seg in torch.tensor_split(keep, offset[:-1].cpu())])
        return torch.cumsum(counts, 0).to(offset)

    def _subset(self, view, keep):
        subset = {k: v[keep] for k, v in view.items() if torch.is_tensor(v) and k != "offset"}
        subset.update(offset=self._kept_offset(keep, view["offset"]), grid_size=view["grid_size"])
        return subset

    def _student_view(self, view, visible):
        """What the student sees: the visible points ("drop"), or every point with the masked
        ones' features replaced by the mask token ("mask_token")."""
        if self.student_input == "drop":
            return self._subset(view, visible)
        return dict(view, feat=self.student["mask_token"](view["feat"], ~visible))

    def _encode(self, branch, view):
        out = branch["backbone"](dict(view))
        points = loss_points(out, view, self.up_cast_level, self.loss_pool_stride)
        points["cos"] = branch["head"](points["feat"])
        return points

    def _sinkhorn_group(self):
        if self.sinkhorn_scope == "batch" and self._distributed():
            return dist.group.WORLD
        return None

    def _check_student_not_starved(self, student, teacher):
        """A mask that leaves every view fewer points than the objective needs, although the
        teacher has plenty, is a configuration error (mask_ratio / mask_size), not a
        degenerate batch: say so instead of training on nothing."""
        need = MIN_POINTS[self.objective]
        student_points = torch.diff(student["offset"], prepend=student["offset"].new_zeros(1))
        teacher_points = torch.diff(teacher["offset"], prepend=teacher["offset"].new_zeros(1))
        if int(student_points.max()) < need and int(teacher_points.max()) >= 8 * need:
            raise ValueError(
                f"mask_ratio={self.mask_ratio} with mask_size={self.mask_size} m leaves the "
                f"student fewer than {need} loss points in every view (the teacher has up to "
                f"{int(teacher_points.max())}): nothing to distil. Lower mask_ratio or raise "
                "mask_size so that a visible patch holds several loss voxels."
            )

    def _term(self, student, teacher, segment_pairs):
        """One term: student loss points against the teacher's matched points.
        -> (loss or None when no view has enough matched points, [K] counts of the balanced
        plan's argmax, per-prototype entropy ([K] sum, views), number of empty views)."""
        index, distance = knn(
            student["origin_coord"].float(), student["offset"],
            teacher["origin_coord"].float(), teacher["offset"],
            k=1, segment_pairs=segment_pairs,
        )
        matched = distance[:, 0] < self.match_radius
        matched_per_view = torch.bincount(
            offset_to_batch(student["offset"])[matched], minlength=len(student["offset"])
        )
        enough = matched_per_view >= MIN_POINTS[self.objective]
        keep = matched & enough[offset_to_batch(student["offset"])]
        offset = self._kept_offset(keep, student["offset"])
        # called on every process even without rows: the batch-scope Sinkhorn communicates
        loss, target = OBJECTIVE_FUNCTIONS[self.objective](
            student["cos"][keep].float() / self.params.student_temp,
            teacher["cos"][index[keep, 0]].float() / self.params.teacher_temp,
            offset,
            self.params.prior,
            self.sinkhorn_iters,
            self.sinkhorn_scope,
            self._sinkhorn_group(),
        )
        # the plan's row before the final normalisation: softmap x prior mass (the column
        # normalisation divided each prototype's mass out)
        plan_counts = torch.bincount((target * self.params.prior.to(target)).argmax(1),
                                     minlength=self.num_prototypes) if len(target) else \
            torch.zeros(self.num_prototypes, dtype=torch.long, device=target.device)
        return loss, plan_counts, softmap_entropy(target, offset), int((~enough).sum())

    def forward(self, data_dict):
        view = check_views(data_dict)
        # one voxel grid per view, anchored at the view's minimum as Pointcept's per-scene
        # GridSample is: a scene's voxels do not depend on the rest of the batch (nor on how it
        # is split over processes); the student's points keep the teacher's voxels
        view["grid_coord"] = torch.cat([
            grid_coord(view["coord"][start:end], view["grid_size"])
            for start, end in offset_to_bounds(view["offset"])
        ])
        with torch.no_grad():
            teacher = self._encode(self.teacher, view)
            usage = prototype_counts(teacher["cos"])
            spread = teacher_spread(teacher["cos"], teacher["offset"], self.embed_channels)
        visible = patch_visibility(
            view["coord"].float(), view["offset"], self.mask_size, self.mask_ratio,
            self.mask_generator,
        )
        student = self._encode(self.student, self._student_view(view, visible))
        self._check_student_not_starved(student, teacher)
        num_segments = len(view["offset"])
        pairs = dict(
            same_view=list(range(num_segments)),
            cross_view=[s + 1 if s % 2 == 0 else s - 1 for s in range(num_segments)],
        )
        # an empty term still reaches every student parameter, so DDP's gradient all-reduce
        # sees the same parameters on every process
        no_loss = (student["cos"].sum() * 0.0).abs()  # abs: +0.0, never -0.0 in the logs
        result, loss = dict(), no_loss
        target_counts = torch.zeros_like(usage)
        entropy = (torch.zeros(self.num_prototypes, dtype=torch.float64, device=usage.device), 0)
        empty_terms, terms = 0, 0
        for name, weight in self.term_weights.items():
            if weight <= 0:
                continue
            term_loss, plan_counts, term_entropy, empty = self._term(student, teacher, pairs[name])
            result[f"{name}_loss"] = no_loss if term_loss is None else term_loss
            loss = loss + weight * result[f"{name}_loss"]
            target_counts += plan_counts
            entropy = (entropy[0] + term_entropy[0], entropy[1] + term_entropy[1])
            empty_terms, terms = empty_terms + empty, terms + num_segments
        if empty_terms == terms:
            sizes = torch.diff(view["offset"], prepend=view["offset"].new_zeros(1)).tolist()
            warnings.warn(
                f"DOS-v1m1: no view of this batch has enough matched points in any term "
                f"({terms} (term, view) pairs; views of {sizes[:8]} points, match_radius "
                f"{self.match_radius} m): the step's loss is 0 (empty_step=1)",
                RuntimeWarning,
                stacklevel=2,
            )
        self.last_record = StepRecord(usage, target_counts, entropy, spread, empty_terms, terms)
        result["loss"] = loss
        logged = dict(empty_terms=empty_terms, empty_step=empty_terms == terms)
        logged.update({k: v for k, v in self.last_record.signals().items() if v is not None})
        for key, value in logged.items():
            result[key] = torch.tensor(float(value), dtype=torch.float32, device=loss.device)
        return result


def resolved_config(cfg):
    """A DOS-v1m1 config with every argument it leaves out at DOSv1m1's default."""
    defaults = {name: p.default for name, p in inspect.signature(DOSv1m1).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return dict(defaults, **cfg)


def upgrade_model_config(cfg):
    """A stored model config (a checkpoint's `cfg["model"]`) written before the step-parameter
    keys were renamed (`step_params.RENAMED_KEYS`) -> the same config under the new keys, the
    fields it did not set taken from DOSv1m1's defaults; other configs are returned as they are."""
    old = {k: cfg[k] for k in RENAMED_KEYS if k in cfg}
    if not old:
        return cfg
    defaults = inspect.signature(DOSv1m1).parameters
    cfg = {k: v for k, v in cfg.items() if k not in old}
    for key, value in old.items():
        new, field = RENAMED_KEYS[key]
        cfg.setdefault(new, dict(defaults[new].default))[field] = value
    return cfg
