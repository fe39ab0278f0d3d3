"""Inject known problems (truth.csv) and near misses (near_misses.csv)."""

from __future__ import annotations

import random

from bidui.generator.county import Builder, County


class Injector:
    def __init__(self, county: County, builder: Builder, k: int, seed: int) -> None:
        self.c = county
        self.b = builder
        self.k = k
        self.rng = random.Random(seed * 31 + 5)
        self.truth: list = []
        self.near: list = []
        self.village_overrides: list = []

    def run(self) -> None:
        pass
