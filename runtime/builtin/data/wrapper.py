"""DatasetWrapper: turns a list of Datum into the batch dicts trainers consume."""
from __future__ import annotations

from typing import Callable, Sequence, Union

import torchvision.transforms as T
from torch.utils.data import Dataset
from yacs.config import CfgNode

from ..utils import read_image
from .transforms import INTERPOLATION_MODES

Transform = Union[Callable, Sequence[Callable], None]


class DatasetWrapper(Dataset):
    """One dict per sample: ``label``, ``domain``, ``impath``, ``index``, ``img``.

    A list of transforms gives ``img``, ``img2``, ``img3``...; with
    ``DATALOADER.K_TRANSFORMS > 1`` (training only) each image entry is a list of
    K augmented views; with ``DATALOADER.RETURN_IMG0`` the dict also holds
    ``img0``, the image only resized (and normalised if ``normalize`` is listed).
    """

    def __init__(self, cfg: CfgNode, data_source: Sequence, transform: Transform = None, is_train: bool = False) -> None:
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(f"DATALOADER.K_TRANSFORMS={self.k_tfm} needs a transform, but transform is None")
        self.to_tensor = self._plain_transform(cfg)

    @staticmethod
    def _plain_transform(cfg: CfgNode) -> T.Compose:
        steps = [T.Resize(tuple(cfg.INPUT.SIZE), interpolation=INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]),
                 T.ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            steps.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        return T.Compose(steps)

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> dict:
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath)

        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._apply(tfm, img0)
        else:
            output["img"] = self._apply(self.transform, img0)

        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _apply(self, tfm: Callable, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
