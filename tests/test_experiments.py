"""Every preset under conf/experiment/ (the README's figures come from them) composes and validates.

The folder is globbed, so a preset anyone adds is covered without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gdsweep import config

PRESETS = sorted((Path(__file__).parent.parent / "conf" / "experiment").glob("*.yaml"))


def test_there_are_presets():
    assert PRESETS, "conf/experiment/ has no preset"


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_composes_and_validates(make_config, preset):
    assert preset.read_text().splitlines()[0].strip() == "# @package _global_"  # its keys are top-level keys
    cfg = make_config(f"+experiment={preset.stem}")
    spec = config.validate(cfg)  # a bad value would raise GdsweepError naming it
    config.scan_spec(cfg)
    assert spec.function["name"] == cfg.function.name
