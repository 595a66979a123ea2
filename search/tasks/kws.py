"""Keyword spotting on Google Speech Commands v2: 12 classes, 49 x 10 MFCCs (MLPerf Tiny).

The folder holds one sub-folder of 1 s, 16 kHz, 16-bit wav files per word and
``_background_noise_`` with longer noise recordings. Ten words are classes; all other words form
``unknown``; ``silence`` clips are cut from the background noise. Splits follow the data set's
``validation_list.txt`` / ``testing_list.txt`` when present, otherwise the speaker-hash rule of
the data set's README (10 % validation, 10 % test), so one speaker never spans two splits.
"""

from __future__ import annotations

import hashlib
import re
import wave
from pathlib import Path

import numpy as np
import torch

from search.tasks.audio import mfcc
from search.tasks.base import Task, TaskError, data_dir, make_task
from search.tasks.download import download_and_extract

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
FOLDER = "speech_commands_v0.02"
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
CLASSES = ("silence", "unknown", *WORDS)
SAMPLE_RATE = 16000
BACKGROUND = "_background_noise_"
SPLITS = ("train", "val", "test")


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit PCM wav at 16 kHz as float32 samples in [-1, 1]."""
    try:
        with wave.open(str(path), "rb") as file:
            if file.getsampwidth() != 2:
                raise TaskError(f"kws: {path} is not 16-bit PCM")
            if file.getframerate() != SAMPLE_RATE:
                raise TaskError(f"kws: {path} is sampled at {file.getframerate()} Hz, not 16 kHz")
            frames = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
            channels = file.getnchannels()
    except (wave.Error, EOFError) as error:
        raise TaskError(f"kws: {path} is not a readable wav file: {error}") from error
    samples = frames.reshape(-1, channels).mean(axis=1) if channels > 1 else frames
    return samples.astype(np.float32) / 32768.0


def _fit(samples: np.ndarray) -> np.ndarray:
    """Pad with zeros or cut to exactly one second."""
    out = np.zeros(SAMPLE_RATE, dtype=np.float32)
    out[: min(len(samples), SAMPLE_RATE)] = samples[:SAMPLE_RATE]
    return out


def _hash_split(relative: str) -> str:
    speaker = re.sub(r"_nohash_.*$", "", Path(relative).name)
    percent = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100
    return "val" if percent < 10 else "test" if percent < 20 else "train"


def _read_list(folder: Path, name: str) -> set[str]:
    path = folder / name
    return set(path.read_text().split()) if path.is_file() else set()


def _ensure_folder(root: str | Path | None, download: bool, url: str) -> Path:
    folder = data_dir(root) / FOLDER
    if not folder.is_dir():
        if not download:
            raise TaskError(f"kws: {folder} does not exist (download disabled)")
        download_and_extract(url, folder)
    return folder


def load(
    root: str | Path | None = None,
    download: bool = True,
    url: str = URL,
    seed: int = 0,
    unknown_fraction: float = 0.1,
    silence_fraction: float = 0.1,
) -> Task:
    """Speech Commands under ``root`` (default: the data directory), features cached on disk."""
    folder = _ensure_folder(root, download, url)
    clips = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.glob("*/*.wav")
        if not p.parent.name.startswith("_")
    )
    if not clips:
        raise TaskError(f"kws: {folder} holds no <word>/<clip>.wav files")
    key = hashlib.sha1(
        repr((clips, seed, unknown_fraction, silence_fraction)).encode()
    ).hexdigest()[:12]
    cache = folder / f".xbarnas-kws-{key}.pt"
    if cache.is_file():
        stored = torch.load(cache)
    else:
        stored = _features(folder, clips, seed, unknown_fraction, silence_fraction)
        torch.save(stored, cache)
    split = stored["split"]
    indices = tuple(torch.nonzero(split == i).flatten() for i in range(3))
    return make_task(
        "kws",
        stored["x"],
        stored["y"],
        class_names=CLASSES,
        num_classes=len(CLASSES),
        splits=indices,
    )


def _features(
    folder: Path, clips: list[str], seed: int, unknown_fraction: float, silence_fraction: float
) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    validation = _read_list(folder, "validation_list.txt")
    testing = _read_list(folder, "testing_list.txt")
    by_split: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    unknown: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    for clip in clips:
        if validation or testing:
            split = "val" if clip in validation else "test" if clip in testing else "train"
        else:
            split = _hash_split(clip)
        word = clip.split("/")[0]
        if word in WORDS:
            by_split[split].append((clip, CLASSES.index(word)))
        else:
            unknown[split].append((clip, CLASSES.index("unknown")))
    noise = [read_wav(p) for p in sorted((folder / BACKGROUND).glob("*.wav"))]
    signals, labels, splits = [], [], []
    for number, split in enumerate(SPLITS):
        known = by_split[split]
        n_unknown = min(len(unknown[split]), max(1, round(unknown_fraction * len(known))))
        chosen = [unknown[split][i] for i in rng.permutation(len(unknown[split]))[:n_unknown]]
        for clip, label in known + chosen:
            signals.append(_fit(read_wav(folder / clip)))
            labels.append(label)
        n_silence = max(1, round(silence_fraction * len(known)))
        for _ in range(n_silence):
            signals.append(_silence(noise, rng))
            labels.append(CLASSES.index("silence"))
        splits += [number] * (len(known) + len(chosen) + n_silence)
    waves = torch.from_numpy(np.stack(signals))
    features = torch.cat([mfcc(chunk) for chunk in waves.split(2048)])
    return {
        "x": features.unsqueeze(1),  # [N, 1, 49, 10]
        "y": torch.tensor(labels),
        "split": torch.tensor(splits),
    }


def _silence(noise: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One second of background noise at a random volume (zeros when there is no noise)."""
    usable = [n for n in noise if len(n) >= SAMPLE_RATE]
    if not usable:
        return np.zeros(SAMPLE_RATE, dtype=np.float32)
    source = usable[rng.integers(len(usable))]
    start = rng.integers(len(source) - SAMPLE_RATE + 1)
    return (source[start : start + SAMPLE_RATE] * rng.uniform(0.0, 1.0)).astype(np.float32)
