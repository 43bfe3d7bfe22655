"""Exported MYRIAD networks (the original ``ExportNetwork``/``ImportNetwork``): a zip file of
``header.json``, the compiled network as IR v11 (``network.xml``) and its weights (``network.bin``).

The IR is the shape-inferred graph the device compiled, weights already rounded
to FP16; the header names the format version and the package that wrote it. A
file written by another version of the package is refused: as with the stick's
compiled blobs, re-export the network with the installed version.
"""

import json
import os
import tempfile
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

from ie_core.backend import IRError, ModelFileNotFoundError, read_network

FORMAT = "ie-core MYRIAD network"
#: Bumped whenever the layout of the file changes.
FORMAT_VERSION = 1

_ELEMENT_TYPES = {
    np.dtype(np.float64): "f64", np.dtype(np.float32): "f32", np.dtype(np.float16): "f16",
    np.dtype(np.int64): "i64", np.dtype(np.int32): "i32", np.dtype(np.int16): "i16", np.dtype(np.int8): "i8",
    np.dtype(np.uint64): "u64", np.dtype(np.uint32): "u32", np.dtype(np.uint16): "u16", np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "boolean",
}


def write(path, graph, store, header):
    """Write ``graph`` to ``path``, each Const's value as ``store(value)`` (as the device stores it)."""
    xml, weights = _to_ir(graph, store)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", json.dumps(dict(header, format=FORMAT, format_version=FORMAT_VERSION), indent=1))
        z.writestr("network.xml", xml)
        z.writestr("network.bin", weights)


def read(path, package_version):
    """The (header, graph) of the file at ``path``; IRError when it is no MYRIAD export or another
    version of the package wrote it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileNotFoundError(f"Path to the exported network {path} doesn't exists or it's a directory")
    try:
        with zipfile.ZipFile(path) as z:
            header = json.loads(z.read("header.json"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError("no MYRIAD header")
            written_by = header.get("package_version")
            if header.get("format_version") != FORMAT_VERSION or written_by != package_version:
                raise IRError(
                    f"{path}: exported by ie-backend-myriad {written_by} (format {header.get('format_version')}), "
                    f"this is ie-backend-myriad {package_version} (format {FORMAT_VERSION}); "
                    "load the IR with IEPlugin.load and export it again"
                )
            with tempfile.TemporaryDirectory(prefix="ie-myriad-import-") as tmp:
                z.extract("network.xml", tmp)
                z.extract("network.bin", tmp)
                graph = read_network(os.path.join(tmp, "network.xml"), os.path.join(tmp, "network.bin"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IRError(f"{path}: not a network exported by the MYRIAD device ({exc})") from None
    return header, graph


def _to_ir(graph, store):
    """IR v11 text and weights of ``graph``: every layer with its attributes, ports and edges."""
    ids = {node: str(i) for i, node in enumerate(graph.nodes)}
    net = ET.Element("net", name=graph.name, version="11")
    layers = ET.SubElement(net, "layers")
    edges = ET.SubElement(net, "edges")
    weights = bytearray()
    for node in graph.nodes:
        attrs = {k: str(v) for k, v in node.attrs.items()}
        if node.type == "Parameter":
            attrs.update(shape=_dims_text(node.output_shapes[0]), element_type=_element_type(node, 0))
        elif node.type == "Const":
            value = np.ascontiguousarray(store(node.values[0]), dtype=node.output_dtypes[0])
            attrs.update(element_type=_element_type(node, 0), shape=_dims_text(value.shape),
                         offset=str(len(weights)), size=str(value.nbytes))
            weights += value.tobytes()
        layer = ET.SubElement(layers, "layer", id=ids[node], name=node.name, type=node.type, version=node.version)
        if attrs:
            ET.SubElement(layer, "data", {k: attrs[k] for k in sorted(attrs)})
        if node.inputs:
            ports = ET.SubElement(layer, "input")
            for i, src in enumerate(node.inputs):
                _port(ports, i, src.node.output_shapes[src.index])
                ET.SubElement(edges, "edge", {"from-layer": ids[src.node], "from-port": str(len(src.node.inputs) + src.index),
                                              "to-layer": ids[node], "to-port": str(i)})
        if node.num_outputs:
            ports = ET.SubElement(layer, "output")
            for i in range(node.num_outputs):
                port = _port(ports, len(node.inputs) + i, node.output_shapes[i])
                port.set("precision", _element_type(node, i).upper())
                if node.output_names[i]:
                    port.set("names", ",".join(n.replace("\\", "\\\\").replace(",", "\\,") for n in sorted(node.output_names[i])))
    return ET.tostring(net, encoding="unicode"), bytes(weights)


def _port(parent, index, dims):
    port = ET.SubElement(parent, "port", id=str(index))
    for d in dims:
        ET.SubElement(port, "dim").text = str(d)
    return port


def _dims_text(dims):
    return ",".join(str(d) for d in dims)


def _element_type(node, index):
    return _ELEMENT_TYPES[np.dtype(node.output_dtypes[index])]
