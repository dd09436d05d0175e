"""Training: params -> layers -> model -> input -> trainer -> checkpoints.

Modules import TensorFlow lazily (`liveri.lazy.tf`), so building params stays instant.
"""
