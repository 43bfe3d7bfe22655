"""Const data of every element type OpenVINO writes is read as OpenVINO reads it."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import check_against_openvino

VALUES = [1, 0, 3, 1, 2, 7, 5, 0, 1]
TYPES = ["f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "boolean",
         "u1", "u2", "u4", "i4", "nf4", "f8e4m3", "f8e5m2"]


@pytest.mark.parametrize("element_type", TYPES)
def test_const_element_type(tmp_path, element_type):
    values = [v % 2 for v in VALUES] if element_type in ("boolean", "u1") else VALUES
    if element_type == "u2":
        values = [v % 4 for v in VALUES]
    if element_type == "i4":
        values = [v - 4 for v in VALUES]
    const = ov.op.Constant(getattr(ov.Type, element_type), ov.Shape([len(values)]), values)
    x = ops.parameter([len(values)], np.float32, name="x")
    model = ov.Model([ops.add(x, ops.convert(const, "f32"))], [x], "consts")
    check_against_openvino(model, {"x": np.linspace(-1, 1, len(values), dtype=np.float32)}, tmp_path, tol=0)
