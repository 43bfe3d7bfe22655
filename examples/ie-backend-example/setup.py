"""The native part of the example backend: one pybind11 extension module."""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

setup(ext_modules=[Pybind11Extension("ie_backend_example._kernels", ["src/kernels.cpp"], cxx_std=17)])
