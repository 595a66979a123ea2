"""Where tensors go: CUDA when it is available, else the CPU."""

import torch


def default_device() -> torch.device:
    """The fastest available torch device (never hard-code the CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_reproducible_kernels() -> None:
    """Have cuDNN pick deterministic kernels, never by benchmarking: on CUDA its default
    convolution gradients sum in a varying order, so two seeded trainings differed in the 8th
    digit of their first loss (seen on an H200), and replays and networks trained once for many
    chips rely on equal trainings. No effect on the CPU."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
