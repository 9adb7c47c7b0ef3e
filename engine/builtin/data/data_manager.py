"""build_data_loader and DataManager: dataset + transforms -> the four loaders."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch.utils.data import DataLoader
from yacs.config import CfgNode

from .datasets import build_dataset
from .samplers import build_sampler
from .transforms import build_transform
from .wrapper import DatasetWrapper


def build_data_loader(
    cfg: CfgNode,
    sampler_type: str = "SequentialSampler",
    data_source: Optional[Sequence] = None,
    batch_size: int = 64,
    n_domain: int = 0,
    n_ins: int = 2,
    tfm: Optional[Callable] = None,
    is_train: bool = True,
    dataset_wrapper: Optional[type] = None,
) -> DataLoader:
    """A DataLoader over ``dataset_wrapper(cfg, data_source, tfm, is_train)``.

    Training drops the last partial batch only when the source holds at least
    one full batch (so tiny few-shot sets still give one batch); evaluation
    never drops samples.
    """
    if not data_source:
        raise ValueError(f"build_data_loader: data_source is empty (sampler={sampler_type}, is_train={is_train})")
    sampler = build_sampler(sampler_type, cfg=cfg, data_source=data_source,
                            batch_size=batch_size, n_domain=n_domain, n_ins=n_ins)
    wrapper = (dataset_wrapper or DatasetWrapper)(cfg, data_source, transform=tfm, is_train=is_train)
    return DataLoader(
        wrapper,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
    )


class DataManager:
    """Build the dataset named in the config and its train_x/train_u/val/test loaders.

    ``train_loader_u`` is None without ``train_u`` data, ``val_loader`` is None
    without val data. Custom transforms or a custom wrapper class replace the
    defaults (e.g. to return extra per-sample fields).
    """

    def __init__(
        self,
        cfg: CfgNode,
        custom_tfm_train: Optional[Callable] = None,
        custom_tfm_test: Optional[Callable] = None,
        dataset_wrapper: Optional[type] = None,
    ) -> None:
        dataset = build_dataset(cfg)
        tfm_train = self._pick_transform(cfg, custom_tfm_train, is_train=True)
        tfm_test = self._pick_transform(cfg, custom_tfm_test, is_train=False)
        loaders = cfg.DATALOADER

        self.train_loader_x = build_data_loader(
            cfg, sampler_type=loaders.TRAIN_X.SAMPLER, data_source=dataset.train_x,
            batch_size=loaders.TRAIN_X.BATCH_SIZE, n_domain=loaders.TRAIN_X.N_DOMAIN,
            n_ins=loaders.TRAIN_X.N_INS, tfm=tfm_train, is_train=True, dataset_wrapper=dataset_wrapper)

        self.train_loader_u = None
        if dataset.train_u:
            u_cfg = loaders.TRAIN_X if loaders.TRAIN_U.SAME_AS_X else loaders.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg, sampler_type=u_cfg.SAMPLER, data_source=dataset.train_u, batch_size=u_cfg.BATCH_SIZE,
                n_domain=u_cfg.N_DOMAIN, n_ins=u_cfg.N_INS, tfm=tfm_train, is_train=True,
                dataset_wrapper=dataset_wrapper)

        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, sampler_type=loaders.TEST.SAMPLER, data_source=dataset.val,
                batch_size=loaders.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False, dataset_wrapper=dataset_wrapper)

        self.test_loader = build_data_loader(
            cfg, sampler_type=loaders.TEST.SAMPLER, data_source=dataset.test,
            batch_size=loaders.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False, dataset_wrapper=dataset_wrapper)

        self.dataset = dataset
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @staticmethod
    def _pick_transform(cfg: CfgNode, custom: Optional[Callable], is_train: bool) -> Optional[Callable]:
        if custom is None:
            return build_transform(cfg, is_train=is_train)
        print(f"* Using custom transform for {'training' if is_train else 'testing'}")
        return custom

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_source_domains(self) -> int:
        return self._num_source_domains

    @property
    def lab2cname(self) -> dict:
        return self._lab2cname

    def show_dataset_summary(self, cfg: CfgNode) -> None:
        """Print the dataset/class/split sizes as a table (Dassl's summary)."""
        from tabulate import tabulate

        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        print(tabulate(rows))
