"""The eager binding (featx._core.call and friends): argument conversion,
ISA selection and every binding-level error message."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import featx
from featx import _core
from oputil import call

CONV_ATTRS = dict(stride=1, padding=0, dilation=1, groups=1)


def test_op_names_lists_every_op():
    names = _core.op_names()
    for n in ["conv2d", "linear", "batch_norm", "relu", "max_pool2d",
              "avg_pool2d", "adaptive_avg_pool2d", "add", "sub", "mul",
              "div", "flatten", "reshape", "cat", "dropout"]:
        assert n in names
    assert len(set(names)) == len(names)


def test_cpu_features_dict():
    f = _core.cpu_features()
    assert f["scalar"] is True
    assert set(f) >= {"avx2", "fma", "avx512"}
    assert all(isinstance(v, bool) for v in f.values())


def test_kernel_name_per_isa():
    assert _core.kernel_name("conv2d", isa="scalar") == "fx_conv2d_ref"
    assert _core.kernel_name("relu", isa="avx2") == "fx_relu_ref"
    if _core.cpu_features()["avx2"]:
        assert _core.kernel_name("conv2d", isa="avx2") == \
            "fx_f32_conv2d_gemm_6x16__avx2"
        assert _core.kernel_name("linear", isa="avx512").endswith("__avx2")


def test_unavailable_isa_falls_back():
    # asking for more than the CPU has is capped, never an error
    x = np.ones((1, 2, 3, 3), np.float32)
    w = np.ones((1, 2, 1, 1), np.float32)
    y = _core.call("conv2d", [x, w], CONV_ATTRS, isa="avx512")
    np.testing.assert_array_equal(y, np.full((1, 1, 3, 3), 2, np.float32))


def test_isa_mask_roundtrip():
    old = _core.isa_mask()
    try:
        assert _core._set_isa_mask(1) == 1
        assert _core.isa_mask() == 1
        assert _core.kernel_name("conv2d") == "fx_conv2d_ref"
        assert _core._set_isa_mask(0) == 1  # scalar is always kept
        new = _core._set_isa_mask(0xFF)
        assert new & 1 and new == (new & 0b111)
    finally:
        _core._set_isa_mask(old)
    assert _core.isa_mask() == old


def test_bad_isa_name():
    with pytest.raises(ValueError, match=r"isa must be .*got 'sse'"):
        _core.call("relu", [np.zeros(1, np.float32)], {}, isa="sse")


def test_unknown_op():
    with pytest.raises(ValueError, match=r"unknown op 'conv3d'.*conv2d.*relu"):
        _core.call("conv3d", [], {})


def test_wrong_input_count():
    with pytest.raises(ValueError, match=r"conv2d: expected 2 to 3 inputs, "
                       r"got 1"):
        _core.call("conv2d", [np.zeros((1, 1, 1, 1), np.float32)], CONV_ATTRS)
    with pytest.raises(ValueError, match=r"relu: expected 1 input, got 2"):
        _core.call("relu", [np.zeros(1, np.float32)] * 2, {})


def test_required_input_none():
    with pytest.raises(TypeError, match=r"linear: input 1 is required, got "
                       r"None"):
        _core.call("linear", [np.zeros((1, 2), np.float32), None],
                   {"act": 0})


def test_inputs_not_a_sequence():
    with pytest.raises(TypeError, match=r"relu: inputs must be a sequence"):
        _core.call("relu", 3, {})


def test_missing_attr():
    with pytest.raises(TypeError, match=r"conv2d: missing attribute 'groups'"):
        _core.call("conv2d", [np.zeros((1, 1, 3, 3), np.float32),
                              np.zeros((1, 1, 1, 1), np.float32)],
                   dict(stride=1, padding=0, dilation=1))


def test_unknown_attr():
    with pytest.raises(TypeError, match=r"relu: unknown attribute 'inplace'"):
        _core.call("relu", [np.zeros(1, np.float32)], {"inplace": True})


def test_attrs_not_a_dict():
    with pytest.raises(TypeError, match=r"relu: attrs must be a dict"):
        _core.call("relu", [np.zeros(1, np.float32)], [1])


def test_attr_wrong_type():
    with pytest.raises(TypeError, match=r"conv2d: attribute 'groups' must be "
                       r"an int, got float"):
        _core.call("conv2d", [np.zeros((1, 1, 3, 3), np.float32),
                              np.zeros((1, 1, 1, 1), np.float32)],
                   dict(CONV_ATTRS, groups=1.0))
    with pytest.raises(TypeError, match=r"attribute 'stride' must be an int "
                       r"or a sequence of ints, got NoneType"):
        _core.call("conv2d", [np.zeros((1, 1, 3, 3), np.float32),
                              np.zeros((1, 1, 1, 1), np.float32)],
                   dict(CONV_ATTRS, stride=None))
    with pytest.raises(TypeError, match=r"dropout: attribute 'p' must be a "
                       r"float, got str"):
        _core.call("dropout", [np.zeros(1, np.float32)], {"p": "x", "seed": 0})


def test_attr_wrong_count():
    with pytest.raises(ValueError, match=r"conv2d: attribute 'padding' must be "
                       r"an int or 2 ints, got 3 values"):
        _core.call("conv2d", [np.zeros((1, 1, 3, 3), np.float32),
                              np.zeros((1, 1, 1, 1), np.float32)],
                   dict(CONV_ATTRS, padding=(1, 1, 1)))


def test_attr_int_and_sequence_forms_agree():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    a = _core.call("conv2d", [x, w], dict(CONV_ATTRS, stride=2, padding=1))
    b = _core.call("conv2d", [x, w], dict(CONV_ATTRS, stride=[2, 2],
                                          padding=(np.int64(1),)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_,
                                   np.complex64])
def test_non_float_array_is_type_error(dtype):
    with pytest.raises(TypeError, match=r"relu: input 0 has dtype .*; float "
                       r"arrays are expected"):
        _core.call("relu", [np.zeros(3, dtype)], {})


def test_non_float_numpy_scalar_is_type_error():
    with pytest.raises(TypeError, match=r"add: input 1 has dtype int64"):
        _core.call("add", [np.zeros(3, np.float32), np.int64(2)], {})


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.float32])
def test_float_dtypes_convert(isa, dtype):
    x = np.array([-1.5, 0.25, 3.0], dtype)
    y = call("relu", [x], {}, isa)
    np.testing.assert_array_equal(y, np.array([0.0, 0.25, 3.0], np.float32))


def test_nested_lists_convert():
    y = _core.call("add", [[[1, 2], [3, 4]], 1.0], {})
    np.testing.assert_array_equal(y, np.array([[2, 3], [4, 5]], np.float32))


def test_too_many_dims():
    with pytest.raises(ValueError, match=r"relu: input 0 has 9 dimensions, at "
                       r"most 8"):
        _core.call("relu", [np.zeros((1,) * 9, np.float32)], {})


def test_output_over_2_48_elements_names_the_op_and_shape():
    # It was NumPy's "array is too big; `arr.size * arr.dtype.itemsize` is
    # larger than the maximum possible size" (or, from infer, "iterator is
    # too large"); now featx's limit, before anything is allocated.
    x = np.ones((1, 1, 1, 1), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    msg = (r"conv2d: the output would have shape \(1, 1, 4294967297, "
           r"4294967297\), more than the 2\*\*48 elements featx can hold")
    attrs = dict(CONV_ATTRS, padding=2 ** 31)
    with pytest.raises(ValueError, match=msg):
        _core.call("conv2d", [x, w], attrs)
    with pytest.raises(ValueError, match=msg):
        _core.infer("conv2d", [(1, 1, 1, 1), (1, 1, 1, 1)], attrs)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: the output "
                       r"would have shape \(1, 1, 4611686018427387904, 1\)"):
        _core.call("adaptive_avg_pool2d", [x], {"output_size": (2 ** 62, 1)})
    with pytest.raises(ValueError, match=r"relu: input shape 0 has more than "
                       r"the 2\*\*48 elements"):
        _core.infer("relu", [(2 ** 30, 2 ** 30)], {})
    assert _core.infer("relu", [(2 ** 24, 2 ** 24)], {}) == (2 ** 24, 2 ** 24)


def test_window_attributes_past_2_48_are_refused_not_wrapped():
    # padding or dilation near 2**62 wrapped the int64 output-size formula
    # to a negative number: "output size would be 0x0".
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    for key, lo in (("padding", 0), ("dilation", 1)):
        with pytest.raises(ValueError, match=rf"^conv2d: {key} must be in "
                           rf"\[{lo}, 2\*\*48\] in both dimensions, got {key} "
                           rf"\({2 ** 62}, {2 ** 62}\)$"):
            _core.call("conv2d", [x, w], dict(CONV_ATTRS, **{key: 2 ** 62}))
    with pytest.raises(ValueError, match=r"^max_pool2d: kernel_size must be "
                       r"in \[1, 2\*\*48\] in both dimensions, got kernel_size"):
        _core.call("max_pool2d", [x], {"kernel_size": 2 ** 62, "stride": 1,
                                       "padding": 0, "dilation": 1,
                                       "ceil_mode": False})
    # a dilated kernel far longer than the input fits nowhere (no overflow)
    with pytest.raises(ValueError, match="output size would be 0x0"):
        _core.call("conv2d", [x, w], dict(CONV_ATTRS, dilation=2 ** 48))
    # any stride: one window, as torch gives for strides it can take
    for ceil_mode in (False, True):
        y = _core.call("max_pool2d", [x], {"kernel_size": 2, "stride": 2 ** 62,
                                           "padding": 1, "dilation": 1,
                                           "ceil_mode": ceil_mode})
        assert y.shape == (1, 1, 1, 1)
    # (a one-channel conv is depthwise: its AVX2 kernel sized a buffer of
    # rows from the stride and looped forever)
    for stride in (2 ** 62, 2 ** 63 - 1):
        y = _core.call("conv2d", [x, w], dict(CONV_ATTRS, stride=stride,
                                              padding=1))
        np.testing.assert_array_equal(y, np.full((1, 1, 1, 1), 4.0,
                                                 np.float32))


def test_output_is_fresh(isa):
    x = np.ones((2, 3), np.float32)
    y = call("reshape", [x], {"shape": (2, 3)}, isa)
    assert not np.shares_memory(x, y)
    assert y.flags.writeable and y.flags.owndata


def test_concurrent_calls_from_threads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    attrs = dict(stride=1, padding=1, dilation=1, groups=1)
    expect = _core.call("conv2d", [x, w], attrs)
    results = []

    def work():
        for _ in range(5):
            results.append(_core.call("conv2d", [x, w], attrs))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    for r in results:
        np.testing.assert_array_equal(r, expect)


def test_refused_inputs_raise_op_error_catchable_as_torch_and_featx_document():
    # torch raises RuntimeError for these calls; featx documented ValueError
    x = np.ones((1, 3, 8, 8), np.float32)
    with pytest.raises(featx.OpError, match=r"conv2d: weight of shape "
                       r"\(4, 2, 3, 3\) expects 2 input channels") as e:
        _core.call("conv2d", [x, np.ones((4, 2, 3, 3), np.float32)],
                   CONV_ATTRS)
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, ValueError)
    with pytest.raises(RuntimeError, match="output size would be 0x0"):
        _core.call("max_pool2d", [x[:, :, :2, :2]],
                   {"kernel_size": 3, "stride": 3, "padding": 0,
                    "dilation": 1, "ceil_mode": False})
