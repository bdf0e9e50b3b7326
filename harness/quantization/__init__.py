"""Quantization: int8 of exported ONNX graphs (static QDQ, dynamic, NNCF), calibration data."""
