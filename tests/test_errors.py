"""Bad input gets a specific ie_core exception that also is the built-in type legacy scripts catch."""

import re

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import save_ir
from ie_core import IENetwork, IEPlugin
from ie_core import errors


@pytest.fixture
def ir(tmp_path):
    """A small valid IR: data -> Add(const) -> Relu -> Result; returns (xml text, bin bytes, tmp_path)."""
    data = ops.parameter([1, 4], np.float32, name="data")
    bias = ops.constant(np.arange(4, dtype=np.float32))
    out = ops.relu(ops.add(data, bias))
    xml, binf = save_ir(ov.Model([out], [data], "small"), tmp_path, "orig")
    return open(xml).read(), open(binf, "rb").read(), tmp_path


def write(tmp_path, xml_text, bin_bytes, name="m"):
    xml = tmp_path / f"{name}.xml"
    xml.write_text(xml_text)
    (tmp_path / f"{name}.bin").write_bytes(bin_bytes)
    return str(xml)


def read(path):
    return IENetwork(model=path, weights=path[:-4] + ".bin")


def test_valid_fixture_reads_and_runs(ir):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    out = IEPlugin("REFERENCE").load(net).infer({"data": np.full((1, 4), -1.0)})
    np.testing.assert_array_equal(out[net.outputs[0]], [[0, 0, 1, 2]])


def test_missing_files(tmp_path):
    with pytest.raises(errors.ModelFileNotFoundError, match="doesn't exists") as exc:
        IENetwork(model=str(tmp_path / "nope.xml"), weights=str(tmp_path / "nope.bin"))
    assert isinstance(exc.value, FileNotFoundError)


def test_truncated_bin(ir):
    xml_text, bin_bytes, tmp = ir
    with pytest.raises(errors.WeightsError, match="truncated") as exc:
        read(write(tmp, xml_text, bin_bytes[:-4]))
    assert isinstance(exc.value, RuntimeError)
    assert "m.xml" in str(exc.value)


def test_offset_past_end(ir):
    xml_text, bin_bytes, tmp = ir
    bad = re.sub(r'offset="0"', 'offset="4096"', xml_text, count=1)
    with pytest.raises(errors.WeightsError, match="offset 4096"):
        read(write(tmp, bad, bin_bytes))


def test_size_inconsistent_with_shape(ir):
    xml_text, bin_bytes, tmp = ir
    bad = re.sub(r'size="16"', 'size="12"', xml_text, count=1)
    with pytest.raises(errors.WeightsError, match="does not match shape"):
        read(write(tmp, bad, bin_bytes))


def test_unknown_op_type(ir):
    """As in the original API, a layer of unknown type reads; loading it on a device fails."""
    xml_text, bin_bytes, tmp = ir
    bad = xml_text.replace('type="ReLU" version="opset1"', 'type="FancyUnknownOp" version="extension"')
    net = read(write(tmp, bad, bin_bytes))
    layer = next(layer for layer in net.layers.values() if layer.type == "FancyUnknownOp")
    plugin = IEPlugin("REFERENCE")
    assert layer.name not in plugin.get_supported_layers(net)
    with pytest.raises(errors.UnsupportedOpError, match="FancyUnknownOp.*add_cpu_extension") as exc:
        plugin.load(net)
    assert isinstance(exc.value, RuntimeError)


def test_missing_edge_target(ir):
    xml_text, bin_bytes, tmp = ir
    bad = re.sub(r'to-layer="(\d+)"', 'to-layer="999"', xml_text, count=1)
    with pytest.raises(errors.GraphError, match="999"):
        read(write(tmp, bad, bin_bytes))


def test_edge_to_missing_port(ir):
    xml_text, bin_bytes, tmp = ir
    bad = re.sub(r'to-port="0"', 'to-port="77"', xml_text, count=1)
    with pytest.raises(errors.GraphError, match="no input port 77"):
        read(write(tmp, bad, bin_bytes))


def test_unconnected_input(ir):
    xml_text, bin_bytes, tmp = ir
    bad = re.sub(r'\s*<edge from-layer="0"[^>]*/>', "", xml_text, count=1)
    with pytest.raises(errors.GraphError, match="no edge connected"):
        read(write(tmp, bad, bin_bytes))


def test_cycle(ir):
    xml_text, bin_bytes, tmp = ir
    # Feed the Relu's output back into the Add instead of the Parameter.
    relu_id = re.search(r'<layer id="(\d+)" name="[^"]*" type="ReLU"', xml_text).group(1)
    add_id = re.search(r'<layer id="(\d+)" name="[^"]*" type="Add"', xml_text).group(1)
    bad = re.sub(
        rf'<edge from-layer="0" from-port="0" to-layer="{add_id}" to-port="0"\s*/>',
        f'<edge from-layer="{relu_id}" from-port="1" to-layer="{add_id}" to-port="0" />',
        xml_text,
    )
    assert bad != xml_text
    with pytest.raises(errors.GraphError, match="cycle"):
        read(write(tmp, bad, bin_bytes))


def test_malformed_xml(ir):
    xml_text, bin_bytes, tmp = ir
    with pytest.raises(errors.IRError, match="malformed XML"):
        read(write(tmp, xml_text[: len(xml_text) // 2], bin_bytes))


def test_unknown_ir_version(ir):
    xml_text, bin_bytes, tmp = ir
    bad = xml_text.replace('version="11"', 'version="99"', 1)
    with pytest.raises(errors.IRError, match="unknown IR version '99'"):
        read(write(tmp, bad, bin_bytes))


def test_bad_element_type(ir):
    xml_text, bin_bytes, tmp = ir
    bad = xml_text.replace('element_type="f32" shape="4"', 'element_type="q99" shape="4"')
    assert bad != xml_text
    with pytest.raises(errors.IRError, match="q99"):
        read(write(tmp, bad, bin_bytes))


@pytest.fixture
def exec_net(ir):
    xml_text, bin_bytes, tmp = ir
    return IEPlugin("REFERENCE").load(read(write(tmp, xml_text, bin_bytes)))


def test_wrong_input_name(exec_net):
    with pytest.raises(errors.InputNameError, match="No input with name image.*data") as exc:
        exec_net.infer({"image": np.zeros((1, 4))})
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, ValueError)


def test_wrong_input_shape(exec_net):
    with pytest.raises(errors.InputError, match=r"expected shape \[1, 4\], got \[1, 5\]") as exc:
        exec_net.infer({"data": np.zeros((1, 5))})
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("value", [None, "abc", {"a": 1}, np.array(["x"])])
def test_input_not_an_array(exec_net, value):
    with pytest.raises(errors.InputError, match="input data"):
        exec_net.infer({"data": value})


def test_inputs_not_a_dict(exec_net):
    with pytest.raises(errors.InputError, match="must be a dict"):
        exec_net.infer([np.zeros((1, 4))])


def test_input_broadcast_of_leading_unit_dims_and_cast(exec_net):
    out = exec_net.infer({"data": np.full(4, -1.0, dtype=np.float64)})
    assert list(out.values())[0].dtype == np.float32


def test_unknown_device():
    with pytest.raises(errors.DeviceNotFoundError, match="Unknown plugin: NPU3, expected one of: .*REFERENCE") as exc:
        IEPlugin("NPU3")
    assert isinstance(exc.value, ValueError)


def test_known_but_missing_device_names_package(monkeypatch):
    from ie_core.plugins import default_registry

    backends = dict(default_registry().backends())
    backends.pop("MYRIAD", None)
    monkeypatch.setattr(default_registry(), "_backends", backends)
    with pytest.raises(errors.DeviceNotFoundError, match="pip install ie-backend-myriad"):
        IEPlugin("MYRIAD")


def test_unknown_config_key(exec_net, ir):
    xml_text, bin_bytes, tmp = ir
    plugin = IEPlugin("REFERENCE")
    net = read(write(tmp, xml_text, bin_bytes))
    with pytest.raises(errors.ConfigError, match="Unsupported property NO_SUCH_KEY") as exc:
        plugin.load(net, config={"NO_SUCH_KEY": "1"})
    assert isinstance(exc.value, RuntimeError)
    with pytest.raises(errors.ConfigError, match="NO_SUCH_KEY"):
        plugin.set_config({"NO_SUCH_KEY": "1"})
    with pytest.raises(errors.ConfigError, match="Wrong value 'MAYBE' for property key PERF_COUNT"):
        plugin.set_config({"PERF_COUNT": "MAYBE"})


@pytest.mark.parametrize("batch", [0, -3, 1.5, "2"])
def test_bad_batch_size(ir, batch):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    with pytest.raises(errors.NetworkArgumentError, match="Invalid batch size") as exc:
        net.batch_size = batch
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, AttributeError)


def test_bad_num_requests_and_request_id(ir):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    plugin = IEPlugin("REFERENCE")
    with pytest.raises(errors.RequestError, match="Incorrect number of requests specified: 0"):
        plugin.load(net, num_requests=0)
    exec_net = plugin.load(net, num_requests=2)
    with pytest.raises(errors.RequestError, match="Incorrect request_id specified!"):
        exec_net.start_async(request_id=2, inputs={"data": np.zeros((1, 4))})


def test_add_outputs_unknown_layer(ir):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    with pytest.raises(errors.LayerNotFoundError, match="Layer nonexistent not found in network") as exc:
        net.add_outputs("nonexistent")
    assert isinstance(exc.value, RuntimeError)


def test_params_must_be_strings(ir):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    layer = next(iter(net.layers.values()))
    with pytest.raises(errors.ParamsTypeError, match="Only string keys and values are allowed!") as exc:
        layer.params = {"shape": [1, 4]}
    assert isinstance(exc.value, TypeError)


def test_device_specific_methods_not_supported(ir):
    xml_text, bin_bytes, tmp = ir
    net = read(write(tmp, xml_text, bin_bytes))
    with pytest.raises(errors.NotSupportedError, match="applicable only for CPU or HETERO"):
        IEPlugin("REFERENCE").add_cpu_extension("/nonexistent/libext.so")
    with pytest.raises(errors.NotSupportedError, match="applicable only for HETERO"):
        IEPlugin("REFERENCE").set_initial_affinity(net)


def test_unknown_version_attribute(ir):
    xml_text, bin_bytes, tmp = ir
    bad = xml_text.replace('type="ReLU" version="opset1"', 'type="ReLU" version="opset99"')
    assert bad != xml_text
    with pytest.raises(errors.UnsupportedOpError, match="unknown version 'opset99'"):
        read(write(tmp, bad, bin_bytes))
