"""Batch inference on Ray Data: :class:`IEPredictor`, a callable class for ``Dataset.map_batches``.

Ray (``pip install 'ie-core[ray]'``) starts one predictor per actor, so each actor
loads the network once and reuses it for every batch::

    import ray
    from ie_core.ray import IEPredictor

    ds = ray.data.read_numpy("s3://bucket/images/")            # a column "data" of samples
    ds = ds.map_batches(IEPredictor, fn_constructor_kwargs={"model": "net.xml", "device": "CPU"},
                        batch_size=16, concurrency=4)
    ds.write_parquet("s3://bucket/results/")

``ie batch --ray`` runs the same predictor over a directory of ``.npy`` files.
"""

import numpy as np

from .api import IENetwork, IEPlugin
from .errors import InputError


class IEPredictor:
    """Runs a network on Ray Data batches: one column per network input in, one per output out.

    ``model``/``weights``: the IR; ``device`` and ``config``: the device and its
    configuration keys; ``batch_size``: samples per inference (the network's batch
    size; a batch of another length is run in pieces, the last one padded).
    A batch maps each input name to an array of samples along axis 0 (each sample of
    the input's shape without its batch dimension); other columns pass through.
    """

    def __init__(self, model, weights=None, device="CPU", config=None, batch_size=1):
        self.net = IENetwork(model=model, weights=weights)
        self.net.batch_size = batch_size
        plugin = IEPlugin(device)
        plugin.set_config(config or {})
        self.exec_net = plugin.load(self.net)
        self.batch_size = batch_size

    def __call__(self, batch):
        inputs = list(self.net.inputs)
        missing = [name for name in inputs if name not in batch]
        if missing:
            raise InputError(f"IEPredictor: the batch has no column for the inputs {missing}; "
                             f"its columns are {sorted(batch)}")
        count = len(batch[inputs[0]])
        pieces = []
        for start in range(0, count, self.batch_size):
            chunk = {}
            for name in inputs:
                rows = np.asarray(batch[name][start:start + self.batch_size])
                pad = self.batch_size - len(rows)
                chunk[name] = np.concatenate([rows, np.repeat(rows[-1:], pad, axis=0)]) if pad else rows
            result = self.exec_net.infer(chunk)
            pieces.append({name: value[: min(self.batch_size, count - start)] for name, value in result.items()})
        outputs = {name: np.concatenate([p[name] for p in pieces]) for name in self.net.outputs}
        passed = {key: value for key, value in batch.items() if key not in inputs}
        return {**passed, **outputs}
