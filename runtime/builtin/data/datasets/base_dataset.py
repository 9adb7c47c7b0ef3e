"""Datum (one labelled image) and DatasetBase (the splits of one dataset)."""
from __future__ import annotations

import os
import random
from collections import defaultdict
from typing import Optional, Sequence


class Datum:
    """One image: path, class label, domain label and class name (read-only).

    The image file must exist when the Datum is created, as in Dassl, so that
    a wrong dataset root fails at load time rather than mid-epoch.
    """

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = "") -> None:
        if not isinstance(impath, str):
            raise TypeError(f"Datum: impath must be a str, got {type(impath).__name__}")
        if not os.path.isfile(impath):
            raise FileNotFoundError(f"Datum: no image file at {impath!r}")
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname

    def __repr__(self) -> str:
        return (f"Datum(impath={self._impath!r}, label={self._label}, "
                f"domain={self._domain}, classname={self._classname!r})")


class DatasetBase:
    """The train_x / train_u / val / test lists of one dataset.

    ``num_classes``, ``lab2cname`` and ``classnames`` come from ``train_x`` only
    (Dassl's rule): test-only datasets pass their test list as ``train_x`` too.
    """

    dataset_dir = ""  # where the dataset is stored
    domains: list = []  # names of all domains (DA/DG datasets)

    def __init__(
        self,
        train_x: Optional[list] = None,
        train_u: Optional[list] = None,
        val: Optional[list] = None,
        test: Optional[list] = None,
    ) -> None:
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self) -> Optional[list]:
        return self._train_x

    @property
    def train_u(self) -> Optional[list]:
        return self._train_u

    @property
    def val(self) -> Optional[list]:
        return self._val

    @property
    def test(self) -> Optional[list]:
        return self._test

    @property
    def lab2cname(self) -> dict:
        return self._lab2cname

    @property
    def classnames(self) -> list:
        return self._classnames

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source: Sequence[Datum]) -> int:
        """``max(label) + 1`` over ``data_source``."""
        if not data_source:
            raise ValueError("DatasetBase: train_x is empty; cannot count classes")
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source: Sequence[Datum]) -> tuple[dict, list]:
        """Return ``({label: classname}, classnames sorted by label)``."""
        mapping = {item.label: item.classname for item in data_source or []}
        labels = sorted(mapping)
        return {label: mapping[label] for label in labels}, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains: Sequence[str], target_domains: Sequence[str]) -> None:
        if len(source_domains) == 0:
            raise ValueError("source_domains (list) is empty")
        if len(target_domains) == 0:
            raise ValueError("target_domains (list) is empty")
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains: Sequence[str]) -> None:
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(self, *data_sources: list, num_shots: int = -1, repeat: bool = False):
        """Keep ``num_shots`` random items per class of each source.

        Uses the global ``random`` state, in the same call order as Dassl, so a
        given seed picks the same images. A class with fewer items keeps them all,
        or with ``repeat`` is sampled with replacement up to ``num_shots``.
        Returns one list for one source, else a list of lists.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources

        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            sampled: list = []
            for items in self.split_dataset_by_label(data_source).values():
                if len(items) >= num_shots:
                    sampled.extend(random.sample(items, num_shots))
                elif repeat:
                    sampled.extend(random.choices(items, k=num_shots))
                else:
                    sampled.extend(items)
            output.append(sampled)
        return output[0] if len(output) == 1 else output

    @staticmethod
    def split_dataset_by_label(data_source: Sequence[Datum]) -> "defaultdict[int, list]":
        """Group items by label, in order of first appearance."""
        groups: defaultdict[int, list] = defaultdict(list)
        for item in data_source:
            groups[item.label].append(item)
        return groups

    @staticmethod
    def split_dataset_by_domain(data_source: Sequence[Datum]) -> "defaultdict[int, list]":
        """Group items by domain, in order of first appearance."""
        groups: defaultdict[int, list] = defaultdict(list)
        for item in data_source:
            groups[item.domain].append(item)
        return groups
