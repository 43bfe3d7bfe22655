"""A network compiled as subgraphs on several devices, and its requests that chain the subgraphs' stages."""

import functools
from typing import NamedTuple

from ie_core.backend import (
    HOST,
    SOURCE_TYPES,
    Allocator,
    BackendRequest,
    CompiledModel,
    LayerSupport,
    PerfCount,
    Stage,
    output_name,
    run_stages,
    to_allocator,
)


class Part(NamedTuple):
    """One subgraph compiled on ``device``: the layers it runs and the tensors it reads (name -> dtype)."""

    device: str
    model: CompiledModel
    layers: frozenset
    inputs: dict
    allocator: Allocator


def on_device(device, text):
    """``text`` (an exec_type) marked with the device that ran the layer: ``"CPU/jit_avx2"``."""
    return f"{device}/{text}"


class HeteroModel(CompiledModel):
    """The subgraphs of a network (``parts``, in execution order), each compiled on its device.

    ``placement`` holds, for every layer, its device's answer to ``query`` on the whole
    network; it describes the layers no subgraph runs (Parameters, constants).
    """

    def __init__(self, graph, parts, placement):
        self.parts = parts
        owner = {name: k for k, part in enumerate(parts) for name in part.layers}
        self.outputs = {}
        self.constants = {}
        for r in graph.results:
            src = r.inputs[0]
            name = output_name(src)
            self.outputs[name] = src.node.output_dtypes[src.index]
            value = src.node.values[src.index]
            if value is not None:
                self.constants[name] = value
        #: (layer name, layer type, index of the part that runs it or None) in graph order
        self.layers = [(n.name, n.type, owner.get(n.name)) for n in graph.nodes if n.type != "Result"]
        self.placement = placement

    def create_request(self):
        return HeteroRequest(self)

    def layer_support(self):
        """Each layer as its device runs it: the compiled subgraph's answer, or the device's query answer for
        layers no subgraph runs; ``exec_type`` names the device (``"CPU/jit_avx2"``)."""
        answers = [part.model.layer_support() for part in self.parts]
        support = {}
        for name, _, k in self.layers:
            device, answer = self.placement[name]
            if k is not None:
                answer = answers[k].get(name, answer)
            support[name] = answer._replace(exec_type=on_device(device, answer.exec_type))
        return support

    def release(self):
        for part in self.parts:
            part.model.release()


class HeteroRequest(BackendRequest):
    """One sub-request per subgraph; an inference runs their stages one after another.

    Before each subgraph's stages, a stage without an executor of its own (it runs on
    the thread of the stage before it) hands the subgraph the tensors it reads,
    moved into its device's memory and converted to the precision it reads them in.
    The last stage gathers the network's outputs into host memory. Because each
    stage runs on its device's executor, the first subgraph of one request runs
    while the second subgraph of another does.
    """

    def __init__(self, model):
        self.model = model
        self.subrequests = [part.model.create_request() for part in model.parts]
        self._stages = None
        self._tensors = {}  # tensor name -> value, of the inference in progress

    def stages(self):
        if self._stages is None:
            stages = [Stage(None, self._begin)]
            for part, sub in zip(self.model.parts, self.subrequests):
                stages.append(Stage(None, functools.partial(self._enter, part)))
                stages.extend(sub.stages())
            stages.append(Stage(None, self._end))
            self._stages = stages
        return self._stages

    def infer(self, inputs):
        return run_stages(self.stages(), inputs)

    def _begin(self, inputs):
        self._tensors = {**self.model.constants, **inputs}
        return {}

    def _enter(self, part, produced):
        """Keep what the previous subgraph produced; return what ``part`` reads, in its device's memory."""
        tensors = self._tensors
        tensors.update(produced)
        return {name: to_allocator(tensors[name], part.allocator, dtype) for name, dtype in part.inputs.items()}

    def _end(self, produced):
        tensors = self._tensors
        tensors.update(produced)
        self._tensors = {}
        return {name: to_allocator(tensors[name], HOST, dtype) for name, dtype in self.model.outputs.items()}

    def perf_counts(self):
        """Every layer once: the counters of the subgraph that ran it, with ``exec_type`` ``"<device>/<exec_type>"``;
        Parameters, Consts (``NOT_RUN``, ``unknown``) and layers folded to constants at load
        (``OPTIMIZED_OUT``, ``constant_folded``) with no device."""
        measured = [sub.perf_counts() for sub in self.subrequests]
        counts = {}
        for name, layer_type, k in self.model.layers:
            if k is None:
                run = ("NOT_RUN", "unknown") if layer_type in SOURCE_TYPES else ("OPTIMIZED_OUT", "constant_folded")
                counts[name] = PerfCount(*run, layer_type, 0, 0)
                continue
            device = self.model.parts[k].device
            pc = measured[k].get(name) or PerfCount("NOT_RUN", "undef", layer_type, 0, 0)
            counts[name] = pc._replace(exec_type=on_device(device, pc.exec_type))
        return counts


def unsupported(reason):
    """The answer for a layer its device cannot run."""
    return LayerSupport(False, False, "", reason=reason)
