"""One description of an InvMIHNet network: grid, IIR levels and downsampling, IIH depth, channels, hiding method.

Everything that depends on the network's shape asks a :class:`NetworkConfig`: building the module
(``InvMIHNet(config)``), error messages ("InvMIHNet N=4 (2 x 2): ..."), the fingerprint stored with a stego's key
and a model folder, and the size rule, which it inherits from :class:`utils.grid.Grid` (for the full-size
baselines, which do not tile the cover, multiples of 2).

``method`` (option ``network_H.method``, one of :data:`HIDING_METHODS`) selects how the N secrets reach the
hiding network: ``mosaic`` is InvMIHNet (IIR downscales them into one mosaic of tiles, IIH hides it); ``concat``
and ``sequential`` are the ISN-style and DeepMIH-style baselines of ``models.baselines`` built from the same
coupling block (``models.networks.build_network`` builds each).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from utils.grid import Grid, SizeError

MODEL_NAMES = ('InvMIHNet',)
"""The values of the option ``model``: the one architecture this code builds."""

HIDING_METHODS = ('mosaic', 'concat', 'sequential')
"""The values of ``network_H.method``."""

__all__ = ['HIDING_METHODS', 'MODEL_NAMES', 'NetworkConfig', 'SizeError']


@dataclass(frozen=True)
class NetworkConfig(Grid):
    """The shape of an InvMIHNet: ``scale_h x scale_w`` grid (N = scale_h * scale_w secrets) and hiding method."""
    iir_block_num: tuple[int, ...]
    use_conv_downsampling: bool = False
    iih_block_num: int = 16
    channels: int = 3
    method: str = 'mosaic'

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, 'iir_block_num', tuple(self.iir_block_num))
        if self.channels != 3:
            raise ValueError(f'only 3-channel (RGB) images are supported, got {self.channels} channels: the '
                             f'losses and the stego split assume RGB')
        if self.method not in HIDING_METHODS:
            raise ValueError(f'hiding method must be one of {list(HIDING_METHODS)}, got {self.method!r}')
        if self.method != 'mosaic' and (self.iir_block_num or self.use_conv_downsampling):
            raise ValueError(f'the {self.method} baseline has no IIR: iir_block_num must be empty and '
                             f'use_conv_downsampling false')

    @classmethod
    def from_options(cls, opt: dict) -> 'NetworkConfig':
        """The configuration of a parsed option dict (see ``options.parse``)."""
        net_g = opt['network_G']
        return cls(scale_h=opt['scale_H'], scale_w=opt['scale_W'], iir_block_num=tuple(net_g['block_num']),
                   use_conv_downsampling=bool(net_g['which_model_G']['use_ConvDownsampling']),
                   iih_block_num=opt['network_H']['block_num'], channels=net_g['in_nc'],
                   method=opt['network_H']['method'])

    @property
    def rescales(self) -> bool:
        """False for a 1 x 1 grid (HiNet) and the full-size baselines: every secret hidden at full size, IIR the
        identity, no latent."""
        return self.method == 'mosaic' and self.num_images > 1

    @property
    def size_multiple(self) -> tuple[int, int]:
        """(height, width) multiples every cover / stego size must have (the baselines do not tile the cover)."""
        if self.method != 'mosaic':
            return 2, 2
        return super().size_multiple

    # ------------------------------------------------------------------ descriptions
    def describe(self) -> str:
        """One readable line, used in error messages."""
        if self.method == 'concat':
            return (f'concat baseline (ISN-style) N={self.num_images}: the secrets concatenated, one hiding '
                    f'network of block_num={self.iih_block_num}')
        if self.method == 'sequential':
            return (f'sequential baseline (DeepMIH-style) N={self.num_images}: {self.num_images} hiding stages of '
                    f'block_num={self.iih_block_num}')
        if not self.rescales:
            return f'HiNet (InvMIHNet 1 x 1, no IIR): IIH block_num={self.iih_block_num}'
        conv = ', ConvDownsampling' if self.use_conv_downsampling else ''
        return (f'InvMIHNet N={self.num_images} ({self.scale_h} x {self.scale_w}): IIR block_num='
                f'{list(self.iir_block_num)}{conv}, IIH block_num={self.iih_block_num}')

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able dict that identifies the configuration (stored in stego key files); ``method`` only for
        the baselines, so an InvMIHNet fingerprint is what it was before the baselines existed."""
        fp = asdict(self)
        fp['iir_block_num'] = list(self.iir_block_num)
        if self.method == 'mosaic':
            del fp['method']
        return fp

    @classmethod
    def from_fingerprint(cls, fp: dict[str, Any], field: str | None = None) -> 'NetworkConfig':
        """Inverse of :meth:`fingerprint`; raises ValueError naming what is wrong (after ``<field>: ``, the
        document's field that holds the fingerprint, when given)."""
        if field is not None:
            try:
                return cls.from_fingerprint(fp)
            except ValueError as err:
                raise ValueError(f'{field}: {err}') from err
        if not isinstance(fp, dict):
            raise ValueError(f'a configuration fingerprint must be a mapping, got {type(fp).__name__}')
        expected = {'scale_h': int, 'scale_w': int, 'iir_block_num': list, 'use_conv_downsampling': bool,
                    'iih_block_num': int, 'channels': int, 'method': str}
        missing = sorted(set(expected) - set(fp) - {'method'})
        unknown = sorted(set(fp) - set(expected))
        if missing or unknown:
            raise ValueError(f'configuration fingerprint: missing keys {missing}, unknown keys {unknown}')
        for key, kind in expected.items():
            if key in fp and (not isinstance(fp[key], kind) or (kind is int and isinstance(fp[key], bool))):
                raise ValueError(f'configuration fingerprint: {key} must be {kind.__name__}, got {fp[key]!r}')
        return cls(**fp)

    def differences(self, other: 'NetworkConfig') -> list[str]:
        """Human-readable differences between two configurations (empty when equal)."""
        mine, theirs = asdict(self), asdict(other)
        return [f'{key} {mine[key]!r} vs {theirs[key]!r}' for key in mine if mine[key] != theirs[key]]
