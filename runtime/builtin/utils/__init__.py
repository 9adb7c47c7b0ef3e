"""Utilities with Dassl's names: registry, seeding, logging, meters, files."""
from .logger import StdoutTee, setup_logger
from .meters import AverageMeter, MetricMeter
from .registry import Registry
from .tools import (
    check_availability,
    check_isfile,
    collect_env_info,
    listdir_nohidden,
    mkdir_if_missing,
    read_image,
    set_random_seed,
    tolist_if_not,
)

__all__ = [
    "Registry",
    "setup_logger",
    "StdoutTee",
    "AverageMeter",
    "MetricMeter",
    "check_availability",
    "check_isfile",
    "collect_env_info",
    "listdir_nohidden",
    "mkdir_if_missing",
    "read_image",
    "set_random_seed",
    "tolist_if_not",
]
