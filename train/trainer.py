"""The custom training loop: tf.function steps under a tf.distribute strategy, checkpoints
with exact resume, dev evaluation with a best checkpoint, summaries and progress."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from liveri.train.evaluation import eval_dataset, evaluate
from liveri.train.layers import variational_noise
from liveri.train.lr_schedules import LearningRate
from liveri.train.progress import Progress
from liveri.train.run_dir import check_or_write_params, load_params
from liveri.train.strategies import make_strategy

from liveri import layout
from liveri.errors import UsageError
from liveri.fileio import atomic_write_json
from liveri.lazy import tf
from liveri.params import Params


def make_optimizer(p: Params, step: Any) -> Any:
    """An optimizer from trainer params whose learning rate follows `step`."""
    import tf_keras

    class Schedule(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, _iterations: Any) -> Any:
            return LearningRate(p, step)

        def get_config(self) -> dict:
            return {}

    lr = Schedule()
    if p.optimizer == "adam":
        optimizer = tf_keras.optimizers.Adam(learning_rate=lr, beta_1=p.adam_beta1)
    elif p.optimizer == "sgd":
        optimizer = tf_keras.optimizers.SGD(learning_rate=lr)
    elif p.optimizer == "momentum":
        optimizer = tf_keras.optimizers.SGD(learning_rate=lr, momentum=p.momentum)
    else:
        raise UsageError(f"train.optimizer: expected adam, sgd or momentum, got {p.optimizer!r}")
    if loss_scaling(p):
        # float16 gradients underflow: scale the loss up, and skip steps whose grads overflow.
        return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scaling(p: Params) -> bool:
    """Only float16 needs its loss scaled: bfloat16 has float32's exponent range."""
    if p.mixed_precision and p.mixed_precision_dtype not in ("float16", "bfloat16"):
        raise UsageError("train.mixed_precision_dtype: expected float16 or bfloat16, got "
                         f"{p.mixed_precision_dtype!r}")
    return p.mixed_precision and p.mixed_precision_dtype == "float16"


def model_params(params: Params) -> Params:
    """The task params training builds: `train.mixed_precision` computes in its dtype (the
    variables stay float32 masters, so checkpoints and export are unchanged)."""
    if not params.train.mixed_precision:
        return params.model
    model = params.model.Copy()
    model.fprop_dtype = params.train.mixed_precision_dtype
    return model


class Trainer:
    """Trains `params.model` on `params.input` into `logdir`, resuming from its checkpoints."""

    def __init__(self, params: Params, logdir: str | Path, strategy: Any = None,
                 is_chief: bool = True, scratch_dir: Path | None = None) -> None:
        self.params = params
        self.logdir = Path(logdir)
        self.is_chief = is_chief
        # Where this worker writes: the logdir for the chief, a scratch directory for others.
        self.write_dir = self.logdir if is_chief else (scratch_dir or self.logdir / ".worker")
        self.strategy = strategy or make_strategy("one_device")
        self.input = params.input.Instantiate()
        with self.strategy.scope():
            self.task = model_params(params).Instantiate()
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.optimizer = make_optimizer(params.train, self.step)
            self.model_vars = tf.Module()
            self.model_vars.by_path = self.task.VariablesByPath()
            # The averaged weights (train.ema_decay): one copy of each trainable variable.
            self.averages = _averages_like(self.task) if params.train.ema_decay > 0 else None
            extra = {"ema": self.averages} if self.averages is not None else {}
            self.checkpoint = tf.train.Checkpoint(
                step=self.step, model=self.model_vars, optimizer=self.optimizer, **extra
            )
            self.best_checkpoint = tf.train.Checkpoint(step=self.step, model=self.model_vars,
                                                       **extra)
        self.variables = self.task.trainable_variables
        self._float_task = None  # see _FloatTask
        self._eval_data: dict[str, Any] = {}  # per split, built on first use
        self.teacher = load_teacher(params.train.distill)

    # -- evaluation ------------------------------------------------------------------------
    def Evaluate(self, split: str) -> dict[str, float]:
        """Metrics on `split` with the weights export will ship (the averages when enabled), in
        float32 even when training computes in a mixed precision: the metric is then the
        exported model's, which computes in float32."""
        if split not in self._eval_data:
            self._eval_data[split] = eval_dataset(self.input, split)
        with self.AveragedWeights():
            return evaluate(self._FloatTask(), self.input, split, self._eval_data[split])

    def _FloatTask(self) -> Any:
        """The task itself, or under mixed precision a float32 twin holding its current
        weights (built on first use; weights copied at every call)."""
        if not self.params.train.mixed_precision:
            return self.task
        if self._float_task is None:
            self._float_task = self.params.model.Instantiate()
        weights = self.task.VariablesByPath()
        for path, variable in self._float_task.VariablesByPath().items():
            variable.assign(weights[path])
        return self._float_task

    @contextlib.contextmanager
    def AveragedWeights(self) -> Iterator[None]:
        """While entered, the task computes with the moving averages (no-op without EMA)."""
        if self.averages is None:
            yield
            return
        variables = self.task.VariablesByPath()
        raw = {path: variables[path].read_value() for path in self.averages.by_path}
        for path, average in self.averages.by_path.items():
            variables[path].assign(average)
        try:
            yield
        finally:
            for path, value in raw.items():
                variables[path].assign(value)

    # -- training --------------------------------------------------------------------------
    def TrainLoop(self) -> Any:
        """The compiled loop `train_loop(iterator, num_steps) -> (mean loss, grad norm)` that
        `Train` runs between boundaries (benchmarks time it directly)."""
        task, strategy, optimizer = self.task, self.strategy, self.optimizer
        variables = self.variables
        scaled_loss = loss_scaling(self.params.train)
        teacher, distill = self.teacher, self.params.train.distill
        clip = self.params.train.clip_gradient_norm
        replicas = strategy.num_replicas_in_sync
        ema_decay = self.params.train.ema_decay
        variables_by_path = self.task.VariablesByPath()
        averaged = ([(avg, variables_by_path[path]) for path, avg in self.averages.by_path.items()]
                    if self.averages is not None else [])

        def loss_and_grads(batch: dict[str, Any]) -> tuple[Any, Any]:
            # Entered inside the traced function so the noise follows the step at run time.
            with tf.GradientTape() as tape, variational_noise.Step(self.step):
                if teacher is None:
                    loss, _ = task.ComputeLoss(batch, training=True)
                else:
                    logits = task.BatchLogits(batch, training=True)
                    label_loss, _ = task.LossFromLogits(batch, logits)
                    soft_loss = soft_target_loss(
                        logits, teacher.BatchLogits(batch, training=False), distill.temperature)
                    loss = ((1.0 - distill.mixing_weight) * label_loss
                            + distill.mixing_weight * soft_loss)
                scaled = loss / replicas
                if scaled_loss:
                    scaled = optimizer.get_scaled_loss(scaled)
            grads = tape.gradient(scaled, variables)
            if scaled_loss:
                grads = optimizer.get_unscaled_gradients(grads)
            return loss, grads

        if self.params.train.jit_compile:  # XLA: the pass with no iterator or optimizer state
            loss_and_grads = tf.function(loss_and_grads, jit_compile=True)

        def step_fn(batch: dict[str, Any]) -> tuple[Any, Any]:
            loss, grads = loss_and_grads(batch)
            norm = tf.linalg.global_norm(grads)
            if clip > 0:
                grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=norm)
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            if averaged:
                # Early on the average follows the weights faster (TF's num_updates rule), so
                # short runs are not dominated by the random init.
                n = tf.cast(self.step, tf.float32) + 1.0
                decay = tf.minimum(ema_decay, n / (n + 9.0))
                for avg, var in averaged:
                    avg.assign(decay * avg + (1.0 - decay) * var)
            return loss, norm

        @tf.function
        def train_loop(iterator: Any, num_steps: Any) -> tuple[Any, Any]:
            loss_sum = tf.constant(0.0)
            norm = tf.constant(0.0)
            for _ in tf.range(num_steps):
                loss, norm = strategy.run(step_fn, args=(next(iterator),))
                loss_sum += strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None)
                norm = strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None)
                self.step.assign_add(1)
            return loss_sum / tf.cast(num_steps, tf.float32), norm

        return train_loop

    def Train(self) -> dict[str, Any]:
        """Train to `train.max_steps`; returns the final test metrics."""
        p = self.params.train
        write_dir = self.write_dir
        if self.is_chief:
            check_or_write_params(self.logdir, self.params)
        ckpt_dir = write_dir / layout.CHECKPOINTS_DIR
        manager = tf.train.CheckpointManager(
            self.checkpoint, str(ckpt_dir), max_to_keep=p.keep_checkpoints
        )
        best_manager = tf.train.CheckpointManager(
            self.best_checkpoint, str(write_dir / layout.BEST_CHECKPOINT_DIR), max_to_keep=1,
        )
        # Every worker resumes from the chief's checkpoints (a shared filesystem on a cluster).
        latest = tf.train.latest_checkpoint(str(self.logdir / layout.CHECKPOINTS_DIR))
        if latest:
            self.checkpoint.restore(latest)
        start = int(self.step.numpy())
        if start >= p.max_steps:
            print(f"[train] {self.logdir} is already at step {start} >= train.max_steps "
                  f"{p.max_steps}; nothing to train")
            return self._final_eval(write_dir)
        if start:
            print(f"[train] resuming from step {start} ({latest})")

        dataset = self.input.Dataset("train", p.batch_size, training=True, seed=p.seed + start)
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        train_loop = self.TrainLoop()
        train_writer = tf.summary.create_file_writer(str(write_dir / layout.SUMMARIES_DIR / "train"))
        eval_writer = tf.summary.create_file_writer(str(write_dir / layout.SUMMARIES_DIR / "eval"))
        best = self._read_best(write_dir)
        main_metric = self.task.main_metric
        progress = Progress(start, p.max_steps, p.batch_size, self.params.experiment)
        log_path = write_dir / layout.TRAIN_LOG_FILE
        step = start
        try:
            while step < p.max_steps:
                boundary = min(_next_multiple(step, n) for n in
                               (p.log_every, p.checkpoint_every, p.eval_every, p.max_steps))
                boundary = min(boundary, p.max_steps)
                t0 = time.perf_counter()
                loss, norm = train_loop(iterator, tf.constant(boundary - step))
                loss = float(loss)
                elapsed = time.perf_counter() - t0
                examples_per_s = (boundary - step) * p.batch_size / max(elapsed, 1e-9)
                step = boundary
                if not tf.math.is_finite(loss):
                    raise RuntimeError(f"loss became {loss} at step {step}; lower "
                                       "train.learning_rate or raise train.clip_gradient_norm")
                lr = float(LearningRate(p, step))
                with train_writer.as_default(step=step):
                    tf.summary.scalar("loss", loss)
                    tf.summary.scalar("learning_rate", lr)
                    tf.summary.scalar("grad_norm", float(norm))
                    tf.summary.scalar("examples_per_sec", examples_per_s)
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": step, "loss": loss, "learning_rate": lr,
                                        "grad_norm": float(norm),
                                        "examples_per_sec": examples_per_s}) + "\n")
                progress.update(step, loss)
                if step % p.checkpoint_every == 0 or step == p.max_steps:
                    manager.save(checkpoint_number=step)
                if step % p.eval_every == 0 or step == p.max_steps:
                    dev = self.Evaluate("dev")
                    with eval_writer.as_default(step=step):
                        for name, value in dev.items():
                            tf.summary.scalar(f"dev/{name}", value)
                    with open(log_path, "a") as f:
                        f.write(json.dumps({"step": step, "dev": dev}) + "\n")
                    value = dev[main_metric]
                    better = best is None or (value > best if self.task.higher_is_better
                                              else value < best)
                    if better:
                        best = value
                        best_manager.save(checkpoint_number=step)
                        atomic_write_json(write_dir / layout.BEST_CHECKPOINT_DIR / "best.json",
                                          {"step": step, main_metric: value})
        finally:
            progress.close()
            train_writer.flush()
            eval_writer.flush()
        return self._final_eval(write_dir)

    def _read_best(self, write_dir: Path) -> float | None:
        path = write_dir / layout.BEST_CHECKPOINT_DIR / "best.json"
        if path.exists():
            return json.loads(path.read_text()).get(self.task.main_metric)
        return None

    def _final_eval(self, write_dir: Path) -> dict[str, Any]:
        metrics = self.Evaluate("test")
        record = {"step": int(self.step.numpy()), "split": "test",
                  "main_metric": self.task.main_metric, **metrics}
        if self.is_chief:
            atomic_write_json(write_dir / layout.METRICS_FILE, record)
            writer = tf.summary.create_file_writer(str(write_dir / layout.SUMMARIES_DIR / "eval"))
            with writer.as_default(step=record["step"]):
                for name, value in metrics.items():
                    tf.summary.scalar(f"test/{name}", value)
            writer.flush()
        return record


def load_teacher(distill: Params) -> Any:
    """The trained teacher task of `train.distill`, or None when distillation is off."""
    if not distill.teacher_experiment:
        return None
    logdir = Path(distill.teacher_logdir)
    if not (logdir / layout.PARAMS_FILE).exists():
        raise UsageError(
            f"train.distill.teacher_logdir: {logdir} holds no trained teacher; train it first "
            f"with `liveri train -e {distill.teacher_experiment} --logdir {logdir}`")
    teacher, _, _ = restore_task(load_params(logdir, distill.teacher_experiment), logdir)
    return teacher


def soft_target_loss(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """KL(teacher || student) of the temperature-softened distributions, times T^2 so its
    gradients keep the scale of the label loss as T changes (Hinton et al., 2015)."""
    t = float(temperature)
    teacher_log_probs = tf.nn.log_softmax(tf.stop_gradient(teacher_logits) / t, axis=-1)
    student_log_probs = tf.nn.log_softmax(student_logits / t, axis=-1)
    kl = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs),
                       axis=-1)
    return tf.reduce_mean(kl) * t * t


def _next_multiple(step: int, n: int) -> int:
    n = max(int(n), 1)
    return (step // n + 1) * n


def _averages_like(task: Any) -> Any:
    """A module holding one non-trainable copy of each trainable variable, keyed by path.

    ONLY_FIRST_REPLICA: every replica computes the same average, so one write is enough.
    """
    module = tf.Module()
    module.by_path = {
        path: tf.Variable(var.read_value(), trainable=False, name=f"ema.{var.name.split(':')[0]}",
                          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        for path, var in task.VariablesByPath().items() if var.trainable
    }
    return module


def restore_task(params: Params, logdir: str | Path, checkpoint: str | None = None
                 ) -> tuple[Any, int, str]:
    """Build the task and load its weights: (task, step, checkpoint path).

    `checkpoint` defaults to the latest in `logdir/checkpoints`; a missing one is a UsageError.
    When the params enable `train.ema_decay`, the task gets the averaged weights: those are
    what training evaluated and what eval and export should use.
    """
    logdir = Path(logdir)
    if checkpoint is None:
        checkpoint = tf.train.latest_checkpoint(str(logdir / layout.CHECKPOINTS_DIR))
        if checkpoint is None:
            raise UsageError(f"no checkpoint in {logdir / layout.CHECKPOINTS_DIR}; expected a "
                             f"trained logdir (run `liveri train -e {params.experiment} "
                             f"--logdir {logdir}` first)")
    elif not tf.io.gfile.exists(checkpoint + ".index"):
        raise UsageError(f"--checkpoint: {checkpoint!r} does not exist; expected a checkpoint "
                         f"prefix such as {logdir / layout.CHECKPOINTS_DIR}/ckpt-300")
    task = params.model.Instantiate()
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    holder = tf.Module()
    holder.by_path = task.VariablesByPath()
    averages = _averages_like(task) if params.train.ema_decay > 0 else None
    extra = {"ema": averages} if averages is not None else {}
    status = tf.train.Checkpoint(step=step, model=holder, **extra).restore(checkpoint)
    status.expect_partial()
    status.assert_existing_objects_matched()
    if averages is not None:
        for path, average in averages.by_path.items():
            holder.by_path[path].assign(average)
    return task, int(step.numpy()), checkpoint
