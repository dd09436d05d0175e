import pytest
from liveri.train import registry

from liveri import layout


def test_digits_is_registered_with_the_contract_keys():
    assert "image.Digits" in registry.names()
    p = registry.get("image.Digits")().Params()
    for key in ("train.max_steps", "train.batch_size", "train.learning_rate",
                "release.latency_p99_ms", "release.min_metric"):
        assert key in p


def test_unknown_experiment_suggests_nearest():
    with pytest.raises(registry.UnknownExperimentError, match="image.Digits"):
        registry.get("image.Digitz")


def test_registering_a_name_twice_is_refused():
    @registry.register("test.Once")
    class Once:
        pass

    with pytest.raises(ValueError, match="twice"):
        @registry.register("test.Once")
        class Other:
            pass


def test_default_model_name():
    assert layout.default_model_name("image.Digits") == "image_digits"
