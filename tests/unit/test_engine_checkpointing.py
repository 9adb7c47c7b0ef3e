"""A trainer's declared state and artifact round-trip through its Checkpointer (hgclip.engine.checkpointing)."""
from __future__ import annotations

import os
from types import SimpleNamespace

import torch
from torch import nn

from hgclip.engine.checkpointing import Checkpointer
from hgclip.engine.model_registry import ModelRegistry
from hgclip.runtime.run_dir import resume_point_name


class Sampler:
    """Stands for the global-batch sampler: a position that a resume must restore."""

    def __init__(self) -> None:
        self.position = 0

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]


class TinyTrainer(ModelRegistry):
    """What a trainer does with its checkpointer: register a model, declare a state and an artifact."""

    def __init__(self, output_dir: str, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.model = nn.Linear(3, 2)
        self.optim = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.register_model("learner", self.model, self.optim)
        self.loader = SimpleNamespace(batch_sampler=Sampler(), generator=torch.Generator().manual_seed(seed))
        self.counter, self.builds, self.used = 0, 0, None
        self.checkpointer = Checkpointer(self, output_dir, trainer_name="TinyTrainer", backbone_id={"name": "none"},
                                         loader=self.loader, scaler=None, max_epoch=2, checkpoint_freq=0)
        self.checkpointer.add_state("counter", lambda: self.counter, self._set_counter)
        self.checkpointer.add_artifact(lambda run_dir: os.path.join(run_dir, "extra.pt"), build=self._build,
                                       save=lambda path, value: torch.save(value, path),
                                       load=lambda path: torch.load(path, weights_only=True), use=self._use)

    def _set_counter(self, value: int) -> None:
        self.counter = value

    def _build(self) -> torch.Tensor:
        self.builds += 1
        return torch.arange(4.0) + 10 * self.builds

    def _use(self, value: torch.Tensor) -> None:
        self.used = value

    def step(self) -> None:
        self.model_backward_and_update(self.model(torch.randn(4, 3)).square().mean())


def test_declared_state_and_artifact_round_trip(tmp_path):
    out = str(tmp_path / "run")
    trained = TinyTrainer(out, seed=0)
    trained.checkpointer.ensure_artifacts()
    trained.checkpointer.ensure_artifacts()
    assert trained.builds == 1 and torch.equal(trained.used, torch.arange(4.0) + 10)  # built once, handed over
    trained.step()
    trained.counter, trained.loader.batch_sampler.position = 7, 3
    trained.checkpointer.save(out, resume_point_name(1), 1)
    next_draw = torch.rand(5)
    assert sorted(os.listdir(out)) == ["extra.pt", "learner"]

    # resuming restores the models, the optimizer, the declared state, the sampler and the RNG; artifacts are
    # built by the trainer before it resumes, never read from the run
    resumed = TinyTrainer(out, seed=1)
    point = resumed.checkpointer.resume(out)
    assert (point.epochs_done, point.batches_done) == (1, 0)
    assert resumed.counter == 7 and resumed.loader.batch_sampler.position == 3
    assert torch.equal(torch.rand(5), next_draw)
    for key, value in trained.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value)
    assert resumed.optim.state_dict()["state"][0]["momentum_buffer"].equal(
        trained.optim.state_dict()["state"][0]["momentum_buffer"])
    assert resumed.builds == 0 and resumed.used is None

    # loading a model directory loads the artifact too (no build), and records what it read
    evaluated = TinyTrainer(str(tmp_path / "eval"), seed=2)
    evaluated.checkpointer.load(out)
    evaluated.checkpointer.ensure_artifacts()
    assert evaluated.builds == 0 and torch.equal(evaluated.used, trained.used)
    assert sorted(evaluated.checkpointer.loaded_files) == ["extra.pt", "learner"]
    assert trained.checkpointer.loaded_files == {}  # per checkpointer: no state shared between trainers


def test_a_missing_artifact_is_built_when_first_needed(tmp_path, capsys):
    out = str(tmp_path / "run")
    untrained = TinyTrainer(out, seed=0)
    untrained.checkpointer.save(out, resume_point_name(1), 1)  # nothing built yet: no artifact file
    assert not os.path.exists(os.path.join(out, "extra.pt"))

    evaluated = TinyTrainer(str(tmp_path / "eval"), seed=1)
    evaluated.checkpointer.load(out)
    assert "No extra.pt in" in capsys.readouterr().out and evaluated.used is None
    evaluated.checkpointer.ensure_artifacts()
    assert evaluated.builds == 1 and list(evaluated.checkpointer.loaded_files) == ["learner"]
