"""Where tensors go: CUDA when it is available, else the CPU."""

import torch


def default_device() -> torch.device:
    """The fastest available torch device (never hard-code the CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
