"""One step order for every trainer: begin (values of the step), forward, optimizer, end
(monitor, guard, EMA teacher); the demo's trainer and the Pointcept adapter both call it."""

import ast
from pathlib import Path

import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.step_sequence import StepSequence

PACKAGE = Path(__file__).resolve().parents[2] / "pointcept_dos"


def test_end_updates_the_teacher_at_the_steps_momentum_and_feeds_the_monitor():
    torch.manual_seed(0)
    model = tiny_model(momentum=dict(start=0.5, end=1.0))
    steps = StepSequence(model)
    opt = torch.optim.SGD(model.student.parameters(), lr=0.5)
    steps.begin(0, 10)
    model(two_view_batch())["loss"].backward()
    opt.step()
    before = model.teacher.head.prototypes.detach().clone()
    student = model.student.head.prototypes.detach().clone()
    signals = steps.end()
    assert torch.allclose(model.teacher.head.prototypes, 0.5 * before + 0.5 * student)
    assert 0 < signals["target_entropy"] < 1 and steps.monitor.report()["steps"] == 1
    assert model.last_record is None


def test_a_step_without_an_optimizer_step_leaves_the_teacher():
    model = tiny_model()
    steps = StepSequence(model)
    steps.begin(0, 10)
    with torch.no_grad():
        model(two_view_batch())
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    steps.end(update_teacher=False)  # gradient accumulation: the optimizer did not step
    assert all(torch.equal(before[k], v) for k, v in model.teacher.state_dict().items())
    assert steps.monitor.report()["steps"] == 1


def test_end_without_a_forward_is_an_error():
    steps = StepSequence(tiny_model())
    steps.begin(0, 10)
    with pytest.raises(RuntimeError, match="before a forward pass"):
        steps.end()


def _calls(path, names):
    tree = ast.parse(path.read_text())
    return sorted({node.func.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names})


@pytest.mark.parametrize("trainer", ["demo/pretrain.py", "integration/model.py"])
def test_both_trainers_take_the_step_order_from_the_step_sequence(trainer):
    """The order is written once: neither trainer sets values, observes or updates the teacher
    itself; each calls begin and end."""
    path = PACKAGE / trainer
    assert _calls(path, {"set_step", "update_teacher", "observe", "apply"}) == []
    assert _calls(path, {"begin", "end"}) == ["begin", "end"]
