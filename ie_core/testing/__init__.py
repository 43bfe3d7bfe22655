"""The conformance suite: the pytest tests every device package runs against its own device.

A backend package runs it from one test file of its own (the basename must be unique
in the repository), e.g. ``backends/cpu/tests/test_cpu_conformance.py``::

    from ie_core.testing import ConformanceSuite

    class TestCPUConformance(ConformanceSuite):
        device = "CPU"
        tolerance = 1e-5        # relative L2 error allowed against REFERENCE
        config = {}             # extra load configuration
        queue_config = {"CPU_THROUGHPUT_STREAMS": "1"}

:class:`ConformanceSuite` is not collected itself (its name does not start with
``Test``); each subclass runs every test below on its ``device``. Optional
attributes: ``tolerances`` (case name -> tolerance), ``fallback_exec_types``
(exec_types of layers the device does not run natively; ``("ref_numpy",)``), and
``queue_config`` (configuration under which requests queue for the device). The
suite needs pytest and numpy, and the REFERENCE device (built in) as the oracle;
it builds its networks itself (:mod:`ie_core.testing.irwriter`, IR v11 files) from
the :mod:`~ie_core.testing.catalogue`, without OpenVINO.

What each group checks:

* **results** (``test_results_match_reference[case]``): every catalogue network —
  element-wise unary and binary ops with broadcasting, comparisons and Select,
  Convolution (padded, strided, dilated, auto_pad, 1-D), grouped and depthwise
  GroupConvolution, MatMul (constant, batched, transposed, vector), pooling,
  Softmax/LogSoftmax, MVN, Concat, Reshape/Transpose/Squeeze/Unsqueeze, Gather,
  Split, StridedSlice, reductions, Convert, Einsum, integer tensors, and small
  multi-op networks (fusable convolution blocks, a MobileNet-like block, an MLP, a
  LayerNorm, an attention block, mixed precision, an output read by later layers)
  — gives REFERENCE's outputs within ``tolerance`` (integers and booleans exactly,
  same dtypes and shapes). A network the device refuses at load
  (``NotSupportedError``/``UnsupportedOpError``) must have layers its ``query()``
  reports unsupported; the test is then skipped with the reason.
* **special values** (``test_special_values_match_reference[case]``): inputs with
  NaN and infinities through the ops whose formulas take a min or a max (IEEE
  minNum/maxNum: Clamp(NaN) is its lower bound), Exp, MaxPool, reductions and
  activations after a convolution give REFERENCE's non-finite values exactly and
  the others within ``tolerance``.
* **query/compile agreement** (``test_query_agrees_with_compile[case]``):
  ``query()`` answers for every layer; for each layer that runs, its exec_type
  equals the one ``get_perf_counts()`` reports, ``native`` is False exactly for
  the fallback exec_types, non-native layers give a reason, and a layer reported
  ``fused_into`` another is OPTIMIZED_OUT while that one EXECUTED.
* **async semantics**: ``wait()`` codes (-11 before a start, -9 while running, 0
  after), a running request refusing another start with ``[REQUEST_BUSY]``,
  completion callbacks called once per inference with status and user data, two
  requests in flight returning the results of their own inputs, threads racing
  ``start_async`` and ``wait``, ``CompiledModel.release()`` cancelling queued runs
  without a hang, and a network dropped with requests in flight.
* **perf counts** (PERF_COUNT YES and NO): an entry for every layer, status in
  EXECUTED/NOT_RUN/OPTIMIZED_OUT, integer times ≥ 0, the layer's type; with YES the
  executed times add up to no more than about the request's latency.
* **configuration and metrics**: an unknown key or a bad value raises
  ``ConfigError`` (a RuntimeError) from ``set_config`` and ``load`` and changes
  nothing; every key of SUPPORTED_CONFIG_KEYS reads back with ``get_config``;
  SUPPORTED_METRICS lists readable metrics with FULL_DEVICE_NAME among them; the
  Backend API version the device declares is one this core accepts.
* **tensors**: the compiled model's allocator allocates, copies in and out, and
  moves tensors to and from host memory (with a precision change); an
  InferRequest runs on an input bound with ``set_tensor`` (a device tensor or a
  host array), ``get_tensor`` returns it and the outputs in device memory, and
  wrong shapes or names are refused.

Timing is never asserted: the async tests poll a network large enough to be still
running, retrying up to :data:`~ie_core.testing.suite.ATTEMPTS` times, and every
wait is bounded by :data:`~ie_core.testing.suite.HANG_TIMEOUT` only to turn a hang
into a failure.
"""

from .catalogue import CATALOGUE, Case
from .irwriter import NetBuilder
from .suite import ConformanceSuite, assert_matches, reference_outputs, rel_l2, write_network

__all__ = [
    "CATALOGUE",
    "Case",
    "ConformanceSuite",
    "NetBuilder",
    "assert_matches",
    "reference_outputs",
    "rel_l2",
    "write_network",
]
