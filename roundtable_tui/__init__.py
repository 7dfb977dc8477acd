"""roundtable: a supervised roundtable of local-LLM agents searching for fast Rust matmul kernels."""

__version__ = "0.1.0"
