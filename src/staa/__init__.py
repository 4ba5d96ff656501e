"""staa: reference reproduction of STAA-Net (sparse, transferable adversarial attacks on SER)."""

__version__ = "0.1.0"
