"""Parse and validate InvMIHNet option files.

Every key is checked against the schema below: an unknown key, a missing required key or a value of the wrong
type is an :class:`OptionError` naming the dotted key (``train.lr_G``) and the file. Paths are expanded (``~``)
and resolved against the repository root, or against the option file's folder when they exist only there.
"""
from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import yaml

from models.config import HIDING_METHODS, MODEL_NAMES, NetworkConfig
from models.distortions import DistortionError, parse_distortion, parse_training_distortions
from models.divergence import DIVERGENCE_MODES
from models.invmihnet import REVEAL_FROM
from models.lr_scheduler import LR_SCHEMES
from models.modules.memory_saving import MEMORY_SAVING_MODES
from models.precision import PRECISIONS
from utils.grid import SizeError
from utils.limited_read import measure_nesting, read_limited

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTION_FILE_LIMIT = 1 << 20         # bytes: an option file is a few kilobytes
MAX_DEPTH = 16                      # nesting of mappings and lists in an option file
MAX_VALUES = 100_000                # values in an option file once YAML aliases are expanded
SEED_LIMIT = 2 ** 32                # seeds are 0 .. 2**32 - 1 (what numpy accepts)
MAX_GRID = 16                       # scale_H, scale_W and IIR levels: the published grids go up to 4 x 4
MAX_BLOCKS = 256                    # coupling blocks per IIR level or in the IIH (the published ones use 16)
MAX_SIDE = 1 << 16                  # pixels: a training crop or a center crop


class OptionError(ValueError):
    """A malformed option file: the message names the file and the dotted key at fault."""


class _Required:
    def __repr__(self) -> str:
        return 'required'


REQUIRED = _Required()
NUMBER = (int, float)
OPT_STR = (str, type(None))
OPT_INT = (int, type(None))
OPT_PATH = ('path', type(None))

DATASET_SCHEMA: dict[str, Any] = {
    'name': (str, REQUIRED),
    'mode': (str, 'Steg'),
    'dataroot_GT': OPT_PATH + (REQUIRED,),
    'dataroot_LQ': OPT_PATH + (None,),
    'use_shuffle': (bool, True),
    'n_workers': (int, 0),
    'batch_size': (OPT_INT, None),
    'GT_size': (OPT_INT, None),
    'use_flip': (bool, False),
    'use_rot': (bool, False),
    'color': (OPT_STR, 'RGB'),
    'on_corrupt': (str, 'error'),
    'center_crop': ((int, list, type(None)), None),
    'max_batches': (OPT_INT, None),
    'sets_per_batch': (int, 1),
}

SCHEMA: dict[str, Any] = {
    'name': (str, REQUIRED),
    'model': (str, 'InvMIHNet'),
    'use_tb_logger': (bool, False),
    'scale_H': (int, REQUIRED),
    'scale_W': (int, REQUIRED),
    'gpu_ids': ((list, type(None)), None),
    'network_G': {
        'which_model_G': {
            'subnet_type': (str, 'DBNet'),
            'use_ConvDownsampling': (bool, False),
        },
        'in_nc': (int, 3),
        'out_nc': (int, 3),
        'block_num': (list, REQUIRED),
        'init': (str, 'xavier'),
    },
    'network_H': {
        'block_num': (int, 16),
        'method': (str, 'mosaic'),
    },
    'path': {
        'root': OPT_PATH + (None,),
        'pretrain_model_G': OPT_PATH + (None,),
        'pretrain_model_H': OPT_PATH + (None,),
        'strict_load': (bool, True),
        'resume_state': OPT_PATH + (None,),
    },
    'train': {
        'lr_G': (float, 2e-4),
        'lr_H': (float, 2e-4),
        'beta1': (float, 0.9),
        'beta2': (float, 0.999),
        'beta1_H': (float, 0.5),
        'beta2_H': (float, 0.999),
        'eps_H': (float, 1e-6),
        'weight_decay_G': (float, 1e-5),
        'weight_decay_H': (float, 1e-5),
        'niter': (int, REQUIRED),
        'warmup_iter': (int, -1),
        'lr_scheme': (str, 'MultiStepLR'),
        'lr_steps': (list, []),
        'lr_gamma': (float, 0.5),
        'restarts': ((list, type(None)), None),
        'restart_weights': ((list, type(None)), None),
        'clear_state': (bool, False),
        'T_period': ((list, type(None)), None),
        'eta_min': (float, 1e-7),
        'pixel_criterion_forw': (str, 'l2'),
        'pixel_criterion_back': (str, 'l1'),
        'manual_seed': (OPT_INT, 10),
        'val_freq': (int, 1000),
        'lambda_fit_forw': (float, 4.0),
        'lambda_rec_back': (float, 1.0),
        'lambda_ce_forw': (float, 1.0),
        'lamda_reconstruction': (float, 5.0),
        'lamda_guide': (float, 1.0),
        'lamda_low_frequency': (float, 1.0),
        'lamda_outline': (float, 0.0),
        'lamda_texture': (float, 0.0),
        'lamda_colour': (float, 0.0),
        'lamda_tiles': (float, 0.0),
        'lamda_pattern': (float, 0.0),
        'lamda_wavelet': (float, 0.0),
        'gradient_clipping': ((float, type(None)), 10.0),
        'gaussian_scale': (float, 1.0),
        'two_pass_backward': (bool, False),
        'reveal_from': (str, 'float'),
        'distortions': (list, []),
        'precision': (str, 'fp32'),
        'memory_saving': (str, 'none'),
        'compile': (bool, False),
        'on_divergence': (str, 'stop'),
        'divergence_factor': ((float, type(None)), 10.0),
        'divergence_window': (int, 100),
        'rollback_lr_factor': (float, 0.5),
        'max_consecutive_skips': (int, 10),
        'max_rollbacks': (int, 3),
    },
    'test': {
        'reveal_from': (str, 'png'),
        'seed': (OPT_INT, 0),
        'gaussian_scale': (float, 1.0),
        'center_crop': ((int, list, type(None)), None),
        'save_images': (bool, True),
        'attacks': (list, ['none']),
        'trained_distortions': (list, []),
        'precision': (str, 'fp32'),
        'chunk': (OPT_INT, None),
        'compile': (bool, False),
    },
    'logger': {
        'print_freq': (int, 100),
        'save_checkpoint_freq': (int, 5000),
    },
}

# Keys the published option files carry that this implementation does not use: accepted with a warning so
# that a published file still parses, never silently.
IGNORED_PUBLISHED_KEYS = {'distortion', 'suffix', 'crop_border', 'train.weight_step'}

CHOICES: dict[str, tuple] = {
    # defined next to the code that acts on them
    'model': MODEL_NAMES,
    'network_H.method': HIDING_METHODS,
    'train.lr_scheme': LR_SCHEMES,
    'train.reveal_from': REVEAL_FROM,
    'test.reveal_from': REVEAL_FROM,
    'train.precision': tuple(PRECISIONS),
    'test.precision': tuple(PRECISIONS),
    'train.memory_saving': MEMORY_SAVING_MODES,
    'train.on_divergence': DIVERGENCE_MODES,
    # the published file keys that take one value only (the published code builds nothing else)
    'network_G.which_model_G.subnet_type': ('DBNet',),
    'network_G.init': ('xavier',),
    'train.pixel_criterion_forw': ('l2',),
    'train.pixel_criterion_back': ('l1',),
    # the datasets' (data/): repeated here because the parser must not import the data loaders
    'datasets.*.mode': ('Steg', 'LQGT'),
    'datasets.*.on_corrupt': ('error', 'skip'),
    'datasets.*.color': ('RGB', None),
}
"""The allowed values of every option that has a fixed set, by dotted key (``*``: any dataset)."""


RANGES: dict[str, tuple[Any, str]] = {
    'train.niter': (lambda v: v >= 1, 'a positive number of iterations'),
    'train.lr_G': (lambda v: v >= 0, '>= 0'),
    'train.lr_H': (lambda v: v >= 0, '>= 0'),
    'train.beta1': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'train.beta2': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'train.beta1_H': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'train.beta2_H': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'train.eps_H': (lambda v: v > 0, '> 0'),
    'train.weight_decay_G': (lambda v: v >= 0, '>= 0'),
    'train.weight_decay_H': (lambda v: v >= 0, '>= 0'),
    'train.warmup_iter': (lambda v: v >= -1, '>= -1 (-1: no warm-up)'),
    'train.lr_gamma': (lambda v: v > 0, '> 0'),
    'train.eta_min': (lambda v: v >= 0, '>= 0'),
    'train.manual_seed': (lambda v: v is None or 0 <= v < SEED_LIMIT, f'null or in 0 .. {SEED_LIMIT - 1}'),
    'train.val_freq': (lambda v: v >= 1, 'a positive number of iterations'),
    'train.lambda_fit_forw': (lambda v: v >= 0, '>= 0'),
    'train.lambda_rec_back': (lambda v: v >= 0, '>= 0'),
    'train.lambda_ce_forw': (lambda v: v >= 0, '>= 0'),
    'train.lamda_reconstruction': (lambda v: v >= 0, '>= 0'),
    'train.lamda_guide': (lambda v: v >= 0, '>= 0'),
    'train.lamda_outline': (lambda v: v >= 0, '>= 0'),
    'train.lamda_texture': (lambda v: v >= 0, '>= 0'),
    'train.lamda_colour': (lambda v: v >= 0, '>= 0'),
    'train.lamda_tiles': (lambda v: v >= 0, '>= 0'),
    'train.lamda_pattern': (lambda v: v >= 0, '>= 0'),
    'train.lamda_wavelet': (lambda v: v >= 0, '>= 0'),
    'train.lamda_low_frequency': (lambda v: v >= 0, '>= 0'),
    'train.gradient_clipping': (lambda v: v is None or v > 0, 'null (no clipping) or > 0'),
    'train.gaussian_scale': (lambda v: v >= 0, '>= 0 (the standard deviation of the reveal noise)'),
    'test.gaussian_scale': (lambda v: v >= 0, '>= 0 (the standard deviation of the reveal noise)'),
    'test.seed': (lambda v: v is None or 0 <= v < SEED_LIMIT, f'null or in 0 .. {SEED_LIMIT - 1}'),
    'test.chunk': (lambda v: v is None or v >= 1, 'a positive number of images or null'),
    'scale_H': (lambda v: 1 <= v <= MAX_GRID, f'in 1 .. {MAX_GRID}'),
    'scale_W': (lambda v: 1 <= v <= MAX_GRID, f'in 1 .. {MAX_GRID}'),
    'network_G.block_num': (lambda v: len(v) <= MAX_GRID and all(b <= MAX_BLOCKS for b in v),
                            f'at most {MAX_GRID} levels of at most {MAX_BLOCKS} blocks'),
    'network_H.block_num': (lambda v: 1 <= v <= MAX_BLOCKS, f'a number of blocks in 1 .. {MAX_BLOCKS}'),
    'logger.print_freq': (lambda v: v >= 1, 'a positive number of iterations'),
    'logger.save_checkpoint_freq': (lambda v: v >= 1, 'a positive number of iterations'),
    'datasets.*.n_workers': (lambda v: 0 <= v <= 1024, 'in 0 .. 1024'),
    'datasets.*.GT_size': (lambda v: v is None or 1 <= v <= MAX_SIDE, f'a size in pixels, 1 .. {MAX_SIDE}'),
    'datasets.*.max_batches': (lambda v: v is None or v >= 1, 'null or a positive number of batches'),
}
"""Values checked beyond their type: dotted key -> (test, what the value must be)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice (YAML says keys are unique; PyYAML would
    silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:       # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f'key {key!r} is given twice in the same mapping', key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> Any:
    """A YAML document (safe types only, no duplicate keys), nested at most :data:`MAX_DEPTH` deep and holding
    at most :data:`MAX_VALUES` values with aliases expanded; :class:`OptionError` naming ``source`` otherwise."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
        depth, size = measure_nesting(data)
    except yaml.YAMLError as err:
        raise OptionError(f'{source} is not valid YAML: {err}') from None
    except (RecursionError, ValueError) as err:
        reason = 'it is nested too deeply' if isinstance(err, RecursionError) else err
        raise OptionError(f'{source} is not a usable option file: {reason}') from None
    if depth > MAX_DEPTH:
        raise OptionError(f'{source}: values nested {depth} deep, more than the limit of {MAX_DEPTH}')
    if size > MAX_VALUES:
        raise OptionError(f'{source}: {size:,} values once YAML aliases are expanded, more than the limit of '
                          f'{MAX_VALUES:,}')
    return data


def check_name(value: str, key: str, source: str) -> str:
    """A name used as a folder name (``name``, ``datasets.<k>.name``): one path component, no separator, not
    ``.`` or ``..``, so that outputs stay under ``results/`` and ``experiments/``."""
    if (not value or value in ('.', '..') or any(c in value for c in '/\\\0') or value != value.strip()
            or len(value.encode('utf-8', 'surrogatepass')) > 200):
        raise OptionError(f'{source}: {key} must be a plain folder name (no /, \\, leading or trailing spaces, '
                          f'not . or .., at most 200 bytes), got {value!r:.100}')
    return value


def _flatten_types(types: tuple) -> tuple:
    flat: list = []
    for t in types:
        flat.extend(t if isinstance(t, tuple) else (t,))
    return tuple(flat)


def _type_name(types: tuple) -> str:
    names = []
    for t in types:
        names.append('path' if t == 'path' else 'null' if t is type(None) else t.__name__)
    return ' or '.join(names)


def _check_value(value: Any, types: tuple, key: str, source: str) -> Any:
    """Check (and gently coerce) one value: ints are valid floats, '2e-4' strings are parsed as floats."""
    if float in types and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(f'{source}: {key} must be a finite number, got {value!r}')
    if float in types and isinstance(value, float):
        return value
    if 'path' in types and isinstance(value, str):
        return value
    ok = any(t != 'path' and isinstance(value, t) and not (t is int and isinstance(value, bool))
             for t in types)
    if not ok:
        raise OptionError(f'{source}: {key} must be {_type_name(types)}, got {value!r}')
    return value


def _validate(section: dict, schema: dict, prefix: str, source: str) -> dict:
    if not isinstance(section, dict):
        raise OptionError(f'{source}: {prefix.rstrip(".") or "the file"} must be a mapping, got {section!r}')
    out: dict[str, Any] = {}
    for key, value in section.items():
        dotted = prefix + str(key)
        if dotted in IGNORED_PUBLISHED_KEYS:
            warnings.warn(f'{source}: {dotted} is a published key this implementation does not use; ignored')
            continue
        if key not in schema:
            raise OptionError(f'{source}: unknown key {dotted} (known keys here: {", ".join(schema)})')
        spec = schema[key]
        if isinstance(spec, dict):
            out[key] = _validate(value if value is not None else {}, spec, dotted + '.', source)
        else:
            out[key] = _check_value(value, _flatten_types(spec[:-1]), dotted, source)
    for key, spec in schema.items():
        if key in out:
            continue
        dotted = prefix + key
        if isinstance(spec, dict):
            out[key] = _validate({}, spec, dotted + '.', source)
        elif spec[-1] is REQUIRED:
            raise OptionError(f'{source}: missing required key {dotted}')
        else:
            out[key] = copy.deepcopy(spec[-1])
    return out


def _entries(opt: dict, dotted: str) -> list[tuple[str, Any]]:
    """(full dotted key, value) of every entry ``dotted`` names (``*`` matches any key), where it is set."""
    parts = dotted.split('.')
    nodes = [('', opt)]
    for part in parts[:-1]:
        nxt = []
        for path, node in nodes:
            if not isinstance(node, dict):
                continue
            keys = node.keys() if part == '*' else [part] if part in node else []
            nxt.extend((f'{path}{k}.', node[k]) for k in keys)
        nodes = nxt
    return [(f'{path}{parts[-1]}', node[parts[-1]]) for path, node in nodes
            if isinstance(node, dict) and parts[-1] in node]


def _check_choices(opt: dict, source: str, datasets: bool) -> None:
    """The keys of :data:`CHOICES` inside ``datasets`` (``datasets=True``) or outside it hold allowed values."""
    for dotted, allowed in CHOICES.items():
        if dotted.startswith('datasets.') != datasets:
            continue
        for key, value in _entries(opt, dotted):
            if value not in allowed:
                raise OptionError(f'{source}: {key} must be one of {list(allowed)}, got {value!r}')


def _check_ranges(opt: dict, source: str) -> None:
    for dotted, (test, wanted) in RANGES.items():
        for key, value in _entries(opt, dotted):
            if not test(value):
                raise OptionError(f'{source}: {key} must be {wanted}, got {value!r}')


def _check_distortions(opt: dict, source: str) -> None:
    """``train.distortions``, ``test.attacks`` and ``test.trained_distortions`` hold valid distortion names (see
    ``models.distortions``)."""
    try:
        if opt.get('train'):
            parse_training_distortions(opt['train']['distortions'], 'train.distortions')
        for index, name in enumerate(opt['test']['trained_distortions']):
            try:
                parse_distortion(name)
            except DistortionError as err:
                raise DistortionError(f'test.trained_distortions[{index}]: {err}') from None
        attacks = opt['test']['attacks']
        if not attacks:
            raise DistortionError('test.attacks must list at least one attack (none: the clean stego)')
        for index, name in enumerate(attacks):
            try:
                parse_distortion(name)
            except DistortionError as err:
                raise DistortionError(f'test.attacks[{index}]: {err}') from None
        if len(set(attacks)) != len(attacks):
            raise DistortionError(f'test.attacks lists an attack twice: {attacks}')
    except DistortionError as err:
        raise OptionError(f'{source}: {err}') from None


def _check_divergence(train: dict, source: str) -> None:
    """``train.on_divergence`` and its parameters (see ``models.divergence``)."""
    factor, window = train['divergence_factor'], train['divergence_window']
    if factor is not None and not (math.isfinite(factor) and factor > 1):
        raise OptionError(f'{source}: train.divergence_factor must be a number above 1 (a total loss that many '
                          f'times its running median is a spike) or null (no spike detection), got {factor!r}')
    if window < 1:
        raise OptionError(f'{source}: train.divergence_window must be a positive number of iterations, got {window}')
    lr_factor = train['rollback_lr_factor']
    if not (math.isfinite(lr_factor) and 0 < lr_factor <= 1):
        raise OptionError(f'{source}: train.rollback_lr_factor must lie in (0, 1] (it multiplies the learning rates '
                          f'at each rollback), got {lr_factor!r}')
    if train['max_rollbacks'] < 0:
        raise OptionError(f'{source}: train.max_rollbacks must be 0 or more, got {train["max_rollbacks"]}')
    if train['max_consecutive_skips'] < 0:
        raise OptionError(f'{source}: train.max_consecutive_skips must be 0 or more, got '
                          f'{train["max_consecutive_skips"]}')


def _resolve_path(value: str | None, option_dir: Path) -> str | None:
    if value is None or value == 'auto':
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    from_repo = REPO_ROOT / path
    from_file = option_dir / path
    if not from_repo.exists() and from_file.exists():
        return str(from_file.resolve())
    return str(from_repo.resolve())


def _published_network_scale(raw: dict, source: str) -> None:
    """The published files repeat scale_H/scale_W under network_G; accept them only when they agree."""
    net = raw.get('network_G')
    if not isinstance(net, dict):
        return
    for key in ('scale_H', 'scale_W', 'scale'):
        if key in net:
            value = net.pop(key)
            if key != 'scale' and value != raw.get(key):
                raise OptionError(f'{source}: network_G.{key}={value!r} disagrees with the top-level '
                                  f'{key}={raw.get(key)!r}; the grid is set once, at the top level')
            warnings.warn(f'{source}: network_G.{key} repeats the top-level grid size; ignored')


def _check_network(opt: dict, source: str) -> None:
    """network_G: RGB only, and IIR block counts that fit the grid (none for a 1 x 1 grid, which is HiNet, nor for
    the full-size baselines of ``network_H.method``)."""
    net_g = opt['network_G']
    for key in ('in_nc', 'out_nc'):
        if net_g[key] != 3:
            raise OptionError(f'{source}: network_G.{key}={net_g[key]}: only 3 (RGB images) is supported; the '
                              f'losses and the stego split assume RGB')
    blocks = net_g['block_num']
    if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in blocks):
        raise OptionError(f'{source}: network_G.block_num must be a list of block counts, got {blocks!r}')
    method = opt['network_H']['method']
    rescales = method == 'mosaic' and opt['num_images'] > 1
    if not rescales and (blocks or net_g['which_model_G']['use_ConvDownsampling']):
        what = 'a 1 x 1 grid (HiNet)' if method == 'mosaic' else f'network_H.method {method}'
        raise OptionError(f'{source}: {what} has no IIR: network_G.block_num must be [] and '
                          f'use_ConvDownsampling false, got {blocks!r}')
    if rescales and not blocks:
        raise OptionError(f'{source}: network_G.block_num must list the IIR blocks of each downsampling level, '
                          f'got []')


def experiment_paths(root: str | Path, name: str) -> dict[str, str]:
    """The ``path`` entries of a training run called ``name`` under ``root``: experiments/<name>/ and its folders."""
    exp = Path(root) / 'experiments' / name
    return {'root': str(root), 'experiments_root': str(exp), 'models': str(exp / 'models'),
            'training_state': str(exp / 'training_state'), 'log': str(exp), 'val_images': str(exp / 'val_images'),
            'tb_logger': str(exp / 'tb_logger')}


def parse(opt_path: str | Path, is_train: bool) -> dict[str, Any]:
    """Read, validate and complete an option file; returns a plain dict.

    Adds ``is_train``, ``num_images`` (scale_H * scale_W), the experiment / results folders under
    ``path`` and, for every dataset, ``phase``, ``opt_key``, ``scale_H`` and ``scale_W``.
    """
    opt_path = Path(opt_path).expanduser()
    source = str(opt_path)
    try:
        text = read_limited(opt_path, OPTION_FILE_LIMIT, 'option file').decode('utf-8')
    except OSError as err:
        raise OptionError(f'cannot read option file {source}: {err.strerror}') from None
    except UnicodeDecodeError as err:
        raise OptionError(f'option file {source} is not UTF-8 text ({err.reason} at byte {err.start})') from None
    except ValueError as err:
        raise OptionError(str(err)) from None
    raw = load_yaml(text, source)
    if not isinstance(raw, dict):
        raise OptionError(f'{source}: the option file must be a mapping of keys, got {type(raw).__name__}')
    datasets_raw = raw.pop('datasets', None)
    _published_network_scale(raw, source)
    schema = SCHEMA if is_train or 'train' in raw else {k: v for k, v in SCHEMA.items() if k != 'train'}
    opt = _validate(raw, schema, '', source)
    check_name(opt['name'], 'name', source)
    opt.setdefault('train', None)
    if datasets_raw is None or not isinstance(datasets_raw, dict) or not datasets_raw:
        raise OptionError(f'{source}: missing required key datasets (with a train / val / test_1 ... entry)')

    scale_h, scale_w = opt['scale_H'], opt['scale_W']
    if scale_h < 1 or scale_w < 1:
        raise OptionError(f'{source}: scale_H x scale_W must describe a grid of at least 1 x 1 (HiNet), '
                          f'got {scale_h} x {scale_w}')
    opt['num_images'] = scale_h * scale_w
    _check_choices(opt, source, datasets=False)
    _check_network(opt, source)
    config = NetworkConfig.from_options(opt)
    option_dir = opt_path.resolve().parent

    opt['datasets'] = {}
    for phase_key, ds in datasets_raw.items():
        phase = 'train' if phase_key == 'train' else 'val' if phase_key == 'val' else \
            'test' if str(phase_key).startswith('test') else None
        if phase is None:
            raise OptionError(f'{source}: unknown key datasets.{phase_key} (use train, val or test_<k>)')
        ds = _validate(ds, DATASET_SCHEMA, f'datasets.{phase_key}.', source)
        check_name(ds['name'], f'datasets.{phase_key}.name', source)
        ds.update(phase=phase, opt_key=f'datasets.{phase_key}', scale_H=scale_h, scale_W=scale_w)
        for key in ('dataroot_GT', 'dataroot_LQ'):
            ds[key] = _resolve_path(ds[key], option_dir)
        if ds['batch_size'] is not None and ds['batch_size'] != opt['num_images'] + 1:
            raise OptionError(f'{source}: datasets.{phase_key}.batch_size must be num_images + 1 = '
                              f'{opt["num_images"] + 1} (one cover and {opt["num_images"]} secrets), '
                              f'got {ds["batch_size"]}')
        ds['batch_size'] = opt['num_images'] + 1
        if ds['sets_per_batch'] < 1 or (phase != 'train' and ds['sets_per_batch'] != 1):
            raise OptionError(f'{source}: datasets.{phase_key}.sets_per_batch must be a positive number of image '
                              f'sets per training step (1 outside training), got {ds["sets_per_batch"]}')
        if phase == 'train':
            if ds['GT_size'] is None:
                raise OptionError(f'{source}: missing required key datasets.{phase_key}.GT_size')
            try:
                config.check_size(ds['GT_size'], ds['GT_size'], what=f'datasets.{phase_key}.GT_size: crop')
            except SizeError as err:
                raise OptionError(f'{source}: {err}') from None
        opt['datasets'][phase_key] = ds
    _check_choices(opt, source, datasets=True)
    _check_ranges(opt, source)
    _check_distortions(opt, source)
    if opt['train']:
        _check_divergence(opt['train'], source)

    if is_train and 'train' not in opt['datasets']:
        raise OptionError(f'{source}: missing required key datasets.train')
    if not is_train and not any(ds['phase'] == 'test' for ds in opt['datasets'].values()):
        raise OptionError(f'{source}: a test option file needs at least one datasets.test_<k> entry')

    if opt['gpu_ids'] is not None and not all(isinstance(g, int) for g in opt['gpu_ids']):
        raise OptionError(f'{source}: gpu_ids must be a list of integers or null, got {opt["gpu_ids"]!r}')

    paths = opt['path']
    for key in ('root', 'pretrain_model_G', 'pretrain_model_H', 'resume_state'):
        paths[key] = _resolve_path(paths[key], option_dir)
    root = Path(paths['root']) if paths['root'] else REPO_ROOT
    paths['root'] = str(root)
    if is_train:
        paths.update(experiment_paths(root, opt['name']))
    else:
        res = root / 'results' / opt['name']
        paths.update(results_root=str(res), log=str(res))
    opt['is_train'] = is_train
    opt['source'] = source
    return opt


def dict_to_yaml(opt: dict) -> str:
    """The resolved options as YAML text (for copying into the experiment folder)."""
    return yaml.safe_dump(opt, sort_keys=False, default_flow_style=None)
