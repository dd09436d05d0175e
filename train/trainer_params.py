"""The `train` section of every experiment: what the trainer does and how often."""

from __future__ import annotations

from liveri.params import Params

# Keys that may change when training resumes in an existing logdir.
RESUMABLE_KEYS = (
    "train.max_steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.eval_every",
    "train.keep_checkpoints",
    "train.jit_compile",
)
RESUMABLE_PREFIXES = ("release.", "export.")

# The Transformer experiments train so by default (`.Set(**BFLOAT16_TRAINING)`): faster on CPUs
# with AVX512-BF16 (and on GPUs) at an unchanged held-out metric; evaluation and export stay
# float32. A CPU without native bfloat16 emulates it and is slower: there,
# `--set train.mixed_precision=False` (docs/performance.md, section 8).
BFLOAT16_TRAINING = {"mixed_precision": True, "mixed_precision_dtype": "bfloat16"}


def DistillParams() -> Params:
    """The `train.distill` section: learn from a trained teacher's soft targets as well."""
    p = Params()
    p.Define("teacher_experiment", "", "Registered experiment of the teacher; '' disables.")
    p.Define("teacher_logdir", "", "The teacher's trained logdir (params.txt and checkpoints).")
    p.Define("temperature", 2.0, "Softmax temperature of teacher and student for the soft loss.")
    p.Define("mixing_weight", 0.5, "Weight of the soft-target loss; the label loss gets 1 - it.")
    return p


def TrainerParams() -> Params:
    p = Params()
    p.Define("max_steps", 1000, "Total training steps (resume continues up to this step).")
    p.Define("batch_size", 64, "Global batch size (split across replicas).")
    p.Define("learning_rate", 1e-3, "Peak learning rate.")
    p.Define("optimizer", "adam", "adam, sgd or momentum.")
    p.Define("momentum", 0.9, "Momentum of the momentum optimizer.")
    p.Define("adam_beta1", 0.9, "Adam's decay of the gradient's moving average (GANs: 0.5, "
             "so each player follows the other's latest move).")
    p.Define("lr_schedule", "cosine", "constant, cosine, warmup_rsqrt or exp_decay.")
    p.Define("warmup_steps", 50, "Linear warmup steps of cosine and warmup_rsqrt.")
    p.Define("decay_start", 0, "exp_decay: step the decay starts.")
    p.Define("half_life", 1000, "exp_decay: steps for the learning rate to halve.")
    p.Define("min_lr_ratio", 0.01, "cosine: final learning rate as a fraction of the peak.")
    p.Define("clip_gradient_norm", 5.0, "Clip gradients to this global norm; 0 disables.")
    p.Define("checkpoint_every", 200, "Save a checkpoint every N steps (and at the end).")
    p.Define("keep_checkpoints", 3, "How many recent checkpoints to keep.")
    p.Define("log_every", 50, "Write train summaries and a log line every N steps.")
    p.Define("eval_every", 500, "Evaluate on the dev split every N steps (and at the end).")
    p.Define("ema_decay", 0.0, "Decay of the moving average of weights used for eval and "
             "export; 0 disables.")
    p.Define("mixed_precision", False, "Compute in mixed_precision_dtype (variables stay "
             "float32).")
    p.Define("mixed_precision_dtype", "float16", "float16 (with loss scaling; GPUs) or bfloat16 "
             "(no loss scaling; CPUs with AVX512-BF16/AMX, TPUs).")
    p.Define("jit_compile", False, "Compile each step's forward and backward pass with XLA.")
    p.Define("distill", DistillParams(), "Distillation from a trained teacher.")
    p.Define("seed", 1, "Seed of data shuffling and dropout.")
    return p
