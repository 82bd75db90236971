"""Assay: content-policy audits of LLM training corpora and model answers."""

__version__ = "0.1.0"
