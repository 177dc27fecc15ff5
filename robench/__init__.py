"""robench: a model zoo and standardised adversarial-robustness benchmark for robust architectures."""

__version__ = "0.1.0"
