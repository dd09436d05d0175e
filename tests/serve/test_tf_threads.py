"""TF Serving's parallelism flags: checked, applied before TensorFlow starts, refused after."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tensorflow as tf
from liveri.serve.tf_threads import set_parallelism

from liveri.errors import UsageError


def test_negative_thread_count_is_a_usage_error_naming_the_flag():
    with pytest.raises(UsageError, match="--tensorflow_inter_op_parallelism must be >= 0"):
        set_parallelism(0, -1)


def test_pools_are_set_in_a_fresh_process():
    code = ("import tensorflow as tf\n"
            "from liveri.serve.tf_threads import set_parallelism\n"
            "set_parallelism(1, 3)\n"
            "tf.constant(1.0) + 1.0\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "3"]


def test_a_different_setting_after_tensorflow_started_is_refused():
    tf.constant(1.0) + 1.0  # TensorFlow has now fixed its pools in this process
    current = tf.config.threading.get_intra_op_parallelism_threads()
    set_parallelism(current, 0)  # the same setting (or TF's choice) is fine
    with pytest.raises(UsageError, match="--tensorflow_intra_op_parallelism=.*before any model"):
        set_parallelism(current + 7, 0)
