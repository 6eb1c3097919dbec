"""Compatibility package of the suite we replace; the implementation is :mod:`sdk_core_plugin`."""
