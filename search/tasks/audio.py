"""Speech features in torch: log-mel filterbanks and MFCCs (MLPerf Tiny KWS: 49 x 10)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _hz_to_mel(f: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def _mel_to_hz(m: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float, f_max: float) -> Tensor:
    """Triangular HTK-mel filters: ``[n_fft // 2 + 1, n_mels]``."""
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = _mel_to_hz(
        torch.linspace(
            _hz_to_mel(torch.tensor(f_min, dtype=torch.float64)).item(),
            _hz_to_mel(torch.tensor(f_max, dtype=torch.float64)).item(),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).float()


def dct_matrix(n_in: int, n_out: int) -> Tensor:
    """Orthonormal DCT-II: ``[n_in, n_out]``."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)
    basis = torch.cos(math.pi / n_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


def mfcc(
    signal: Tensor,
    sample_rate: int = 16000,
    window_ms: float = 30.0,
    stride_ms: float = 20.0,
    n_mels: int = 40,
    n_mfcc: int = 10,
    f_min: float = 20.0,
    f_max: float = 4000.0,
) -> Tensor:
    """MFCCs of ``[N, samples]`` waveforms in [-1, 1]: ``[N, frames, n_mfcc]``.

    Defaults follow MLPerf Tiny's keyword spotting (1 s at 16 kHz -> 49 frames x 10 coefficients).
    """
    window = round(sample_rate * window_ms / 1000)
    stride = round(sample_rate * stride_ms / 1000)
    n_fft = 2 ** math.ceil(math.log2(window))
    frames = signal.unfold(-1, window, stride) * torch.hann_window(window, periodic=True)
    power = torch.fft.rfft(frames, n=n_fft).abs() ** 2
    mel = power @ mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max).to(signal.device)
    return torch.log(mel + 1e-6) @ dct_matrix(n_mels, n_mfcc).to(signal.device)
