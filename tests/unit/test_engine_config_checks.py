"""Values nothing else checks, refused in one line before anything is built (``engine.config_checks``)."""
from __future__ import annotations

import pytest
from trainer_helpers import make_cfg

from hgclip.common.errors import InputError
from hgclip.engine.config_checks import check_values


def cfg_with(trainer: str, *opts, tmp_path) -> object:
    return make_cfg(trainer, str(tmp_path / "data"), str(tmp_path / "out"), *opts)


@pytest.mark.parametrize("opts, message", [
    (("TRAINER.HGCLIP.LAMBDA_ATTN", "-0.5"), "TRAINER.HGCLIP.LAMBDA_ATTN is -0.5: expected a loss weight >= 0"),
    (("TRAINER.HGCLIP.LAMBDA_GLOBAL", "-1.0"), "TRAINER.HGCLIP.LAMBDA_GLOBAL is -1.0: expected a loss weight >= 0"),
    (("TRAINER.HGCLIP.N_CTX_VISION", "-1"), "TRAINER.HGCLIP.N_CTX_VISION is -1: expected a number of prompt tokens"),
    (("TRAINER.HGCLIP.PROMPT_DEPTH_TEXT", "-2"), "TRAINER.HGCLIP.PROMPT_DEPTH_TEXT is -2: expected"),
    (("TRAINER.HGCLIP.TEXT_GNN.HEADS", "0"), "TRAINER.HGCLIP.TEXT_GNN.HEADS is 0: expected attention heads >= 1"),
    (("TRAINER.HGCLIP.IMAGE_GNN.HEADS", "-4"), "TRAINER.HGCLIP.IMAGE_GNN.HEADS is -4"),
    (("TRAINER.HGCLIP.TEXT_GNN.LAYERS", "-1"), "TRAINER.HGCLIP.TEXT_GNN.LAYERS is -1: expected graph layers >= 1"),
    (("TRAINER.HGCLIP.IMAGE_GNN.HIDDEN_DIM", "-8"), "TRAINER.HGCLIP.IMAGE_GNN.HIDDEN_DIM is -8: expected a width"),
    (("TRAINER.HGCLIP.TEXT_GNN.DROPOUT", "1.5"), "TRAINER.HGCLIP.TEXT_GNN.DROPOUT is 1.5: expected a probability"),
    (("TRAINER.HGCLIP.ATTENTION.ALPHA", "0.0"), "TRAINER.HGCLIP.ATTENTION.ALPHA is 0.0: expected a softmax"),
])
def test_hgclip_values_are_refused_in_one_line(opts, message, tmp_path):
    cfg = cfg_with("HGCLIP", *opts, tmp_path=tmp_path)
    with pytest.raises(InputError) as error:
        check_values(cfg, training=True)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_disabled_graph_encoder_is_not_checked(tmp_path):
    cfg = cfg_with("HGCLIP", "TRAINER.HGCLIP.TEXT_GNN.ENABLED", "False", "TRAINER.HGCLIP.TEXT_GNN.HEADS", "0",
                   "OPTIM.WARMUP_EPOCH", "0", tmp_path=tmp_path)
    check_values(cfg, training=True)


@pytest.mark.parametrize("trainer, key", [("CoOp", "N_CTX"), ("MaPLe", "PROMPT_DEPTH"), ("VPT", "N_CTX_VISION")])
def test_negative_prompt_sizes_of_every_trainer_are_refused(trainer, key, tmp_path):
    section = trainer.upper()
    cfg = cfg_with(trainer, f"TRAINER.{section}.{key}", "-1", tmp_path=tmp_path)
    with pytest.raises(InputError, match=rf"^TRAINER\.{section}\.{key} is -1: expected a number of prompt tokens"):
        check_values(cfg, training=False)


def test_a_run_that_is_all_warm_up_is_named_in_one_warning(tmp_path, capsys):
    cfg = cfg_with("HGCLIP", tmp_path=tmp_path)  # the tiny config's one warm-up epoch, and OPTIM.MAX_EPOCH 1
    assert (int(cfg.OPTIM.WARMUP_EPOCH), int(cfg.OPTIM.MAX_EPOCH)) == (1, 1)
    check_values(cfg, training=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: OPTIM.WARMUP_EPOCH 1 >= OPTIM.MAX_EPOCH 1: ")
    assert "constant lr 1e-05" in lines[0]
    check_values(cfg, training=False)  # evaluating: no schedule to speak of
    check_values(cfg_with("HGCLIP", "OPTIM.MAX_EPOCH", "2", tmp_path=tmp_path), training=True)
    check_values(cfg_with("HGCLIP", "OPTIM.WARMUP_EPOCH", "0", tmp_path=tmp_path), training=True)
    assert capsys.readouterr().err == ""


def test_defaults_pass(tmp_path):
    for trainer in ("HGCLIP", "CoOp", "MaPLe", "VPT", "IVLP", "PromptSRC"):
        check_values(cfg_with(trainer, "OPTIM.WARMUP_EPOCH", "0", tmp_path=tmp_path), training=True)
