"""Performance benchmarks of specgd against plain PyTorch, plain NumPy and the machine's GEMM rate.

Run ``python -m benchmarks`` (``--smoke`` for a seconds-long check). Results are printed and saved
as JSON and a Markdown table. Ratios come from interleaved pairs (A B A B ...) with medians, because
a shared machine's speed drifts during a session.
"""
