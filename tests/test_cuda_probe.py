"""The CUDA peak-memory probe in the order the stage driver and the evaluation call it, on a fake torch.cuda.

At f017e41 every stage of `srcal calibrate` on a fresh CUDA process died before it started:
``reset_cuda_peak`` called ``torch.cuda.reset_peak_memory_stats(0)`` before CUDA was initialised and
torch raised ``RuntimeError: Invalid device argument``. The fake below behaves as torch's CUDA does
there (reset raises until initialised; memory stats read 0 until then), so these tests fail on that
call order and pass when the probe measures only what an initialised CUDA holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from calibrate.artifacts import cuda_peak_gib, read_manifest, reset_cuda_peak


class FakeCuda:
    """torch.cuda as a fresh process on a one-GPU machine sees it: available, lazily initialised."""

    def __init__(self) -> None:
        self.initialised = False
        self.peak = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("is_available", "is_initialized", "device_count", "reset_peak_memory_stats"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        monkeypatch.setattr(torch.cuda, "max_memory_reserved", self.max_memory_reserved)

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return self.initialised

    def device_count(self) -> int:
        return 1

    def reset_peak_memory_stats(self, device: Any = None) -> None:
        if not self.initialised:
            raise RuntimeError("Invalid device argument")
        self.peak = 0

    def max_memory_reserved(self, device: Any = None) -> int:
        return self.peak if self.initialised else 0

    def allocate(self, nbytes: int) -> None:
        """What a model moved to the device does: CUDA initialises, the allocator reserves."""
        self.initialised = True
        self.peak = max(self.peak, nbytes)


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    fake = FakeCuda()
    fake.install(monkeypatch)
    return fake


class TestProbe:
    def test_reset_before_cuda_is_initialised(self, cuda: FakeCuda) -> None:
        reset_cuda_peak()  # f017e41: RuntimeError: Invalid device argument
        cuda.allocate(3 * 2**30)
        assert cuda_peak_gib() == 3.0

    def test_a_later_window_starts_from_its_reset(self, cuda: FakeCuda) -> None:
        cuda.allocate(5 * 2**30)
        reset_cuda_peak()
        cuda.allocate(2 * 2**30)
        assert cuda_peak_gib() == 2.0

    def test_nothing_on_cuda_reads_none(self, cuda: FakeCuda) -> None:
        reset_cuda_peak()
        assert cuda_peak_gib() is None


class _StageOnCuda:
    """A stage whose run puts 1.5 GiB on the (fake) device, as loading a model does."""

    name: ClassVar[str] = "rft"
    output: ClassVar[str] = "out.txt"
    mode: ClassVar[str] = "all"

    def __init__(self, cuda: FakeCuda, directory: Path) -> None:
        self.cuda, self.directory = cuda, directory

    def config(self) -> dict[str, Any]:
        return {}

    def inputs(self) -> dict[str, str]:
        return {}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        self.cuda.allocate(3 * 2**29)
        (self.directory / self.output).write_text("done")
        return [self.output], {}


def test_the_stage_driver_runs_a_stage_on_a_fresh_cuda_process(cuda: FakeCuda, tmp_path: Path) -> None:
    from calibrate.config import RunConfig
    from calibrate.loop import Calibration

    calibration = Calibration(RunConfig(), tmp_path)
    directory = tmp_path / "iter_0"
    calibration._stage(directory, _StageOnCuda(cuda, directory))
    assert read_manifest(directory, "rft")["summary"]["peak_cuda_gib"] == 1.5
