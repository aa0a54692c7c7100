"""One source for each default: what the reference configs spell out must equal its source.

The DOS pretrain base config lists every method setting for users to read and edit; the values
come from DOSv1m1's signature (the one source), and this test keeps them equal. The ScanNet
pretrain config spells out its transform list; the derived configs build theirs with
`multiview_transform`, which must give the same list for the same settings."""

import inspect

import pytest

from pointcept_dos.integration.config_presets import multiview_transform
from pointcept_dos.models import DOSv1m1
from test_configs import CONFIG_DIR, load_config

# set per dataset in the dataset configs (None in the base)
PER_DATASET = {"mask_size", "match_radius"}
# PT-v3m2's teacher turns its dropouts off; a model default cannot know the backbone's keys
BACKBONE_SPECIFIC = {"teacher_custom"}


def _defaults():
    params = inspect.signature(DOSv1m1.__init__).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def test_base_config_spells_out_the_model_defaults():
    model = load_config(CONFIG_DIR / "_base_" / "pretrain-dos-ptv3.py")[0]["model"]
    defaults = _defaults()
    shared = (set(model) & set(defaults)) - PER_DATASET - BACKBONE_SPECIFIC
    assert len(shared) >= 14, sorted(shared)
    differ = {k: (model[k], defaults[k]) for k in shared if model[k] != defaults[k]}
    assert not differ, f"base config and DOSv1m1 defaults disagree (config, model): {differ}"
    assert all(model[k] is None for k in PER_DATASET)


@pytest.mark.parametrize("name", ["scannet-pretrain.py"])
def test_literal_transform_equals_the_helper_for_the_same_settings(name):
    transform = load_config(CONFIG_DIR / name)[0]["data"]["train"]["transform"]
    assert transform == multiview_transform(0.02, feat_keys=("coord", "color", "normal"))
