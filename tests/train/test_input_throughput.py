"""The throughput probe a benchmark calls to check the input pipeline is not the bottleneck."""

import pytest
from liveri.train.input.fortunes import fortune_files
from liveri.train.input.lm import LmInput
from liveri.train.input.throughput import examples_per_second


@pytest.mark.skipif(not fortune_files("/usr/share/games/fortunes"),
                    reason="Debian's fortunes package is not installed")
def test_lm_pipeline_delivers_examples_quickly(tmp_path):
    p = LmInput.Params()
    p.Set(data_dir=str(tmp_path), shuffle_buffer=256)
    rate = examples_per_second(p.Instantiate(), "train", batch_size=32, seconds=0.5)
    assert rate > 500
