"""Where a run's batches come from: jets held in memory, or streamed from the files a window at a time
(:mod:`higgsflow.data.stream`). Both give the loop the same thing: the number of steps of an epoch, the
epoch's batches from a given step on (seeded, so a resumed run sees the same ones), this process's share of
each batch under ``torchrun``, and a sample of jets to plan the memory of a step."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from higgsflow.data.config import DataConfig
from higgsflow.data.io import num_entries
from higgsflow.data.loader import JetArrays, load_arrays, make_dataloader
from higgsflow.data.stream import StreamingData
from higgsflow.errors import ConfigError, DataError

__all__ = ["InMemoryBatches", "StreamedBatches", "load_mode", "make_batches"]

log = logging.getLogger(__name__)

LOAD_MODES = ("auto", "memory", "stream")


def load_mode(mode: str, files: Sequence[str], config: DataConfig, fetch_jets: int) -> str:
    """``memory`` or ``stream`` for ``mode`` (``auto``: stream when the files hold more than ``fetch_jets``
    rows)."""
    if mode not in LOAD_MODES:
        raise ConfigError(
            f"unknown load mode {mode!r}", field="load (--load)", expected=" or ".join(LOAD_MODES)
        )
    if mode != "auto":
        return mode
    rows = sum(num_entries(f, tree=config.treename) for f in files)
    return "stream" if rows > fetch_jets else "memory"


class InMemoryBatches:
    """All jets in memory (:func:`higgsflow.data.loader.load_arrays`), batches by a seeded DataLoader."""

    mode = "memory"

    def __init__(
        self,
        arrays: JetArrays,
        names: Sequence[str],
        *,
        batch_size: int,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
    ) -> None:
        self.arrays, self.seed, self.shuffle = arrays, seed, shuffle
        self.n_jets = len(arrays)
        local = batch_size // world
        self.sampler = None
        if not shuffle:  # validation: each process takes every world-th jet
            if world > 1:
                arrays = arrays.subset(np.arange(rank, len(arrays), world))
            drop_last = False
        else:
            drop_last = len(arrays) >= 2 * batch_size
            if world > 1:
                self.sampler = torch.utils.data.distributed.DistributedSampler(
                    range(len(arrays)), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
                )
        self.loader = make_dataloader(
            arrays,
            names,
            batch_size=local,
            shuffle=shuffle,
            seed=seed,
            num_workers=num_workers,
            drop_last=drop_last,
            sampler=self.sampler,
        )

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, Any]]:
        """The batches of ``epoch`` from step ``start`` on. Creating the iterator draws from torch's global
        random state (the DataLoader's base seed), before the batches it skips."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.loader.seed_generator.manual_seed(self.seed + epoch)
        it = iter(self.loader)
        for _ in range(start):
            next(it)
        return it

    def sample(self) -> JetArrays:
        return self.arrays

    def close(self) -> None:
        pass


class StreamedBatches:
    """Jets read from the files a window at a time (:class:`higgsflow.data.stream.StreamingData`)."""

    mode = "stream"

    def __init__(self, stream: StreamingData) -> None:
        self.stream = stream
        self.n_jets = stream.n_jets

    def __len__(self) -> int:
        return len(self.stream)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, Any]]:
        return self.stream.batches(epoch, start)

    def sample(self) -> JetArrays:
        return self.stream.first_window()

    def close(self) -> None:
        self.stream.close()


def make_batches(
    files: Sequence[str | os.PathLike[str]],
    config: DataConfig,
    names: Sequence[str],
    *,
    mode: str,
    batch_size: int,
    shuffle: bool,
    seed: int,
    rank: int,
    world: int,
    max_jets: int | None,
    fetch_jets: int,
    num_workers: int = 0,
    arrays: JetArrays | None = None,
) -> InMemoryBatches | StreamedBatches:
    """The batches of a training (``shuffle``) or validation set, in memory or streamed (``mode``)."""
    if arrays is not None or mode == "memory":
        if arrays is None:
            arrays = load_arrays(files, config, train=True, max_jets=max_jets)
        if len(arrays) < world:
            raise DataError("fewer jets than processes", field="train" if shuffle else "val")
        return InMemoryBatches(
            arrays,
            names,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            rank=rank,
            world=world,
            num_workers=num_workers,
        )
    stream = StreamingData(
        files,
        config,
        names,
        batch_size=batch_size,
        fetch_jets=fetch_jets,
        shuffle=shuffle,
        drop_last=False,
        seed=seed,
        rank=rank,
        world=world,
        train=True,
        max_jets=max_jets,
    )
    # as in memory, a short last batch is dropped when there are two or more full ones; under torchrun always
    # (every process must take the same number of steps with a full share of each batch)
    stream.drop_last = shuffle and (world > 1 or stream.n_jets >= 2 * batch_size)
    return StreamedBatches(stream)
