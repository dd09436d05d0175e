"""Input: real data sources, deterministic splits and tf.data pipelines."""
