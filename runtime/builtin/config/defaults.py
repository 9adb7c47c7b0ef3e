"""Dassl 0.6.3's default configuration: the same keys and default values.

Configs written for Dassl (dataset/method YAMLs, ``opts`` on the command line)
merge into this tree unchanged, because yacs rejects keys it does not know.
The DA/DG/SSL trainer sections (``TRAINER.MCD`` ...) are left out: no prompt
learning method reads them.
"""
from __future__ import annotations

from yacs.config import CfgNode as CN


def _input_defaults() -> CN:
    node = CN()
    node.SIZE = (224, 224)
    node.INTERPOLATION = "bilinear"  # bilinear | bicubic | nearest
    node.TRANSFORMS = ()  # names accepted by build_transform
    node.NO_TRANSFORM = False  # True: build_transform returns None
    node.PIXEL_MEAN = [0.485, 0.456, 0.406]  # ImageNet statistics
    node.PIXEL_STD = [0.229, 0.224, 0.225]
    node.CROP_PADDING = 4
    node.RRCROP_SCALE = (0.08, 1.0)
    node.CUTOUT_N = 1
    node.CUTOUT_LEN = 16
    node.GN_MEAN = 0.0
    node.GN_STD = 0.15
    node.RANDAUGMENT_N = 2
    node.RANDAUGMENT_M = 10
    node.COLORJITTER_B = 0.4
    node.COLORJITTER_C = 0.4
    node.COLORJITTER_S = 0.4
    node.COLORJITTER_H = 0.1
    node.RGS_P = 0.2  # random grayscale probability
    node.GB_P = 0.5  # gaussian blur probability
    node.GB_K = 21  # gaussian blur kernel size (odd)
    return node


def _dataset_defaults() -> CN:
    node = CN()
    node.ROOT = ""
    node.NAME = ""
    node.SOURCE_DOMAINS = ()
    node.TARGET_DOMAINS = ()
    node.NUM_LABELED = -1
    node.NUM_SHOTS = -1  # images per class; < 1 means all
    node.VAL_PERCENT = 0.1
    node.STL10_FOLD = -1
    node.CIFAR_C_TYPE = ""
    node.CIFAR_C_LEVEL = 1
    node.ALL_AS_UNLABELED = False
    return node


def _loader_node(sampler: str, batch_size: int, with_domain_keys: bool) -> CN:
    node = CN()
    node.SAMPLER = sampler
    node.BATCH_SIZE = batch_size
    if with_domain_keys:
        node.N_DOMAIN = 0  # RandomDomainSampler: 0/-1 = all domains
        node.N_INS = 16  # RandomClassSampler: instances per class
    return node


def _dataloader_defaults() -> CN:
    node = CN()
    node.NUM_WORKERS = 4
    node.K_TRANSFORMS = 1  # augment each training image K times
    node.RETURN_IMG0 = False  # also return the un-augmented image
    node.TRAIN_X = _loader_node("RandomSampler", 32, with_domain_keys=True)
    node.TRAIN_U = _loader_node("RandomSampler", 32, with_domain_keys=True)
    node.TRAIN_U.SAME_AS_X = True
    node.TEST = _loader_node("SequentialSampler", 32, with_domain_keys=False)
    return node


def _model_defaults() -> CN:
    node = CN()
    node.INIT_WEIGHTS = ""
    node.BACKBONE = CN()
    node.BACKBONE.NAME = ""
    node.BACKBONE.PRETRAINED = True
    node.HEAD = CN()
    node.HEAD.NAME = ""
    node.HEAD.HIDDEN_LAYERS = ()
    node.HEAD.ACTIVATION = "relu"
    node.HEAD.BN = True
    node.HEAD.DROPOUT = 0.0
    return node


def _optim_defaults() -> CN:
    node = CN()
    node.NAME = "adam"
    node.LR = 0.0003
    node.WEIGHT_DECAY = 5e-4
    node.MOMENTUM = 0.9
    node.SGD_DAMPNING = 0  # sic: Dassl's spelling
    node.SGD_NESTEROV = False
    node.RMSPROP_ALPHA = 0.99
    node.ADAM_BETA1 = 0.9
    node.ADAM_BETA2 = 0.999
    node.STAGED_LR = False
    node.NEW_LAYERS = ()
    node.BASE_LR_MULT = 0.1
    node.LR_SCHEDULER = "single_step"
    node.STEPSIZE = (-1,)  # -1 or 0: step size = MAX_EPOCH
    node.GAMMA = 0.1
    node.MAX_EPOCH = 10
    node.WARMUP_EPOCH = -1  # > 0 turns warm-up on
    node.WARMUP_TYPE = "linear"  # linear | constant
    node.WARMUP_CONS_LR = 1e-5
    node.WARMUP_MIN_LR = 1e-5
    node.WARMUP_RECOUNT = True  # successor counts from 0 after warm-up
    return node


def _train_defaults() -> CN:
    node = CN()
    node.CHECKPOINT_FREQ = 0  # <= 0: save the last epoch only
    node.PRINT_FREQ = 10
    node.COUNT_ITER = "train_x"
    return node


def _test_defaults() -> CN:
    node = CN()
    node.EVALUATOR = "Classification"
    node.PER_CLASS_RESULT = False
    node.COMPUTE_CMAT = False  # save OUTPUT_DIR/cmat.pt
    node.NO_TEST = False
    node.SPLIT = "test"  # test | val
    node.FINAL_MODEL = "last_step"  # last_step | best_val
    return node


def build_default_cfg() -> CN:
    """Build a fresh default config tree (not frozen)."""
    cfg = CN()
    cfg.VERSION = 1
    cfg.OUTPUT_DIR = "./output"
    cfg.RESUME = ""
    cfg.SEED = -1  # negative: do not seed
    cfg.USE_CUDA = True
    cfg.VERBOSE = True
    cfg.INPUT = _input_defaults()
    cfg.DATASET = _dataset_defaults()
    cfg.DATALOADER = _dataloader_defaults()
    cfg.MODEL = _model_defaults()
    cfg.OPTIM = _optim_defaults()
    cfg.TRAIN = _train_defaults()
    cfg.TEST = _test_defaults()
    cfg.TRAINER = CN()
    cfg.TRAINER.NAME = ""
    return cfg


_DEFAULTS = build_default_cfg()
