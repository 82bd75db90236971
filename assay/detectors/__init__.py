"""Detectors: lexicon, PII, secrets and classifiers. Each scores; none decides."""
