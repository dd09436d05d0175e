"""Real inputs for every benchmark: the version's own warmup requests (or a request log's, with
`liveri bench --requests`), tiled to a batch size.

The warmup file holds requests the exporter took from the eval data, so every runtime (and the
server) is timed on examples the model was built for, with no dataset-specific code here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveri import layout
from liveri.errors import UsageError
from liveri.request_records import request_inputs


def warmup_examples(version_dir: str | Path) -> dict[str, np.ndarray]:
    """The warmup requests' inputs, joined along the batch axis: {input name: [N, ...]}."""
    path = Path(version_dir) / layout.WARMUP_FILE
    if not path.exists():
        raise UsageError(f"{path} not found; benchmarks take their inputs from the version's "
                         "warmup requests (written by `liveri export`), or --requests FILE")
    return request_inputs([path])


def tile_batch(examples: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """A batch of `batch_size` examples, repeating the real ones as often as needed."""
    out = {}
    for name, values in examples.items():
        reps = -(-batch_size // len(values))
        out[name] = np.concatenate([values] * reps)[:batch_size]
    return out
