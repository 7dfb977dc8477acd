"""roundtable: local-LLM agents searching for fast Rust matmul kernels, under supervision."""

__version__ = "0.1.0"
