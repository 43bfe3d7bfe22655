"""Compiled networks and inference requests on an OpenCL device.

A :class:`GPUModel` holds a :class:`~ie_backend_gpu.plan.Plan`, its built programs and its
constants in device memory (shared by the requests). Each :class:`GPURequest` has its own
in-order queue, kernel objects with their arguments bound once, and the buffers of the memory
plan, allocated when the request is created; an inference only rebinds the network's input
tensors, enqueues every kernel and waits for the last one. Its stages are
[enqueue (on the device's enqueue executor), wait (on the request's own executor)], so the
kernels of one request run while another request enqueues or waits.
"""

import pyopencl as cl

from ie_core.backend import (
    BackendRequest,
    CompiledModel,
    InferenceError,
    Stage,
    TaskExecutor,
    Tensor,
    merge_perf_counts,
    to_allocator,
)

from .plan import Buf, Const


class GPUModel(CompiledModel):
    """A network compiled for one :class:`~ie_backend_gpu.device.Device`."""

    def __init__(self, device, plan, config):
        self.device = device
        self.plan = plan
        self.profile = config.get("PERF_COUNT") == "YES"
        cache_dir = config.get("CL_CACHE_DIR", "")
        self.programs = {
            key: device.programs.get(key[0], key[1], cache_dir)
            for key in dict.fromkeys((launch.program, _options(plan, launch)) for launch in plan.launches)
        }
        allocator = device.allocator
        self.constants = [allocator.upload(array) for array in plan.constants]
        self.output_constants = {
            name: Tensor(array.shape, array.dtype, allocator, allocator.upload(array))
            for name, array in plan.output_constants.items()
        }
        self.released = False

    def allocator(self):
        return self.device.allocator

    def layer_support(self):
        return self.plan.support

    def create_request(self):
        return GPURequest(self)

    def release(self):
        """Inferences not enqueued yet end with InferenceError; those on the device finish. The
        memory goes with the last reference to the network and its requests."""
        self.released = True


def _options(plan, launch):
    return (("-DSTORE_HALF",) if plan.half else ()) + launch.options


class GPURequest(BackendRequest):
    """One request's queue, kernels and memory (see the module docstring)."""

    def __init__(self, model):
        self.model = model
        device, plan = model.device, model.plan
        properties = cl.command_queue_properties.PROFILING_ENABLE if model.profile else 0
        self.queue = cl.CommandQueue(device.context, properties=properties)
        allocator = device.allocator
        pool = [allocator.buffer(size) for size in plan.pool_sizes]
        dedicated = {
            root: allocator.buffer(plan.tensors[root].nbytes)
            for root, (kind, _) in plan.placement.items()
            if kind == "output"
        }
        self._buffers = (pool, dedicated)  # kernel arguments do not keep their buffers alive

        def buffer(key):
            kind, where = plan.placement[plan.root(key)]
            return pool[where] if kind == "pool" else dedicated[where]

        self._input_args = []  # (kernel, argument index, network input name)
        self._launches = []  # (kernel, global size, local size, layer)
        for launch in plan.launches:
            kernel = cl.Kernel(model.programs[(launch.program, _options(plan, launch))], launch.kernel)
            for i, arg in enumerate(launch.args):
                if isinstance(arg, Buf):
                    kind, where = plan.placement[plan.root(arg.key)]
                    if kind == "input":
                        self._input_args.append((kernel, i, where))
                        continue
                    kernel.set_arg(i, buffer(arg.key))
                elif isinstance(arg, Const):
                    kernel.set_arg(i, model.constants[arg.index])
                else:
                    kernel.set_arg(i, arg)
            self._launches.append((kernel, launch.global_size, launch.local_size, launch.layer))
        self._outputs = {}  # name -> Tensor, or (input name, shape) for an output in an input's memory
        for name, key in plan.outputs.items():
            spec = plan.tensors[key]
            kind, where = plan.placement[plan.root(key)]
            if kind == "input":
                self._outputs[name] = (where, spec.shape)
            else:
                self._outputs[name] = Tensor(spec.shape, plan.output_dtypes[name], allocator, buffer(key))
        self._wait_executor = TaskExecutor(f"{device.name}-wait")
        self._times = None

    def stages(self):
        return [Stage(self.model.device.enqueue_executor, self.enqueue), Stage(self._wait_executor, self.wait)]

    def infer(self, inputs):
        return self.wait(self.enqueue(inputs))

    def enqueue(self, inputs):
        """Bind ``inputs`` and enqueue every kernel; returns what :meth:`wait` needs."""
        if self.model.released:
            raise InferenceError("the inference was cancelled: its network was released")
        allocator = self.model.device.allocator
        tensors = {name: to_allocator(value, allocator) for name, value in inputs.items()}
        for kernel, index, name in self._input_args:
            kernel.set_arg(index, tensors[name].handle)
        queue, events = self.queue, []
        for kernel, size, local, layer in self._launches:
            try:
                events.append(cl.enqueue_nd_range_kernel(queue, kernel, size, local))
            except cl.Error as exc:
                where = f"layer '{layer}' ({kernel.function_name})" if layer else kernel.function_name
                raise InferenceError(f"{where}: the enqueue failed: {exc}") from None
        queue.flush()
        return tensors, events

    def wait(self, pending):
        """Wait for the kernels :meth:`enqueue` queued; returns the network's outputs (name -> Tensor)."""
        tensors, events = pending
        try:
            if events:
                events[-1].wait()
        except cl.Error as exc:
            raise InferenceError(f"{self.model.device.name}: a kernel failed: {exc}") from None
        if self.model.profile:
            times = {}
            for event, (_, _, _, layer) in zip(events, self._launches):
                if layer is not None:
                    us = (event.profile.end - event.profile.start) / 1000
                    old = times.get(layer, (0.0, 0.0))[0]
                    times[layer] = (old + us, old + us)
            self._times = times
        outputs = dict(self.model.output_constants)
        for name, out in self._outputs.items():
            if isinstance(out, Tensor):
                outputs[name] = out
            else:
                source = tensors[out[0]]
                outputs[name] = Tensor(out[1], source.dtype, source.allocator, source.handle)
        return outputs

    def perf_counts(self):
        return merge_perf_counts(self.model.plan.static_counts, self._times)
