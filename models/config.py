"""One description of an InvMIHNet network: grid, IIR levels and downsampling, IIH depth, channels.

Everything that depends on the network's shape asks a :class:`NetworkConfig`: building the module
(``InvMIHNet(config)``), error messages ("InvMIHNet N=4 (2 x 2): ..."), the fingerprint stored with a stego's key
and a model folder, and the size rule, which it inherits from :class:`utils.grid.Grid`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from utils.grid import Grid, SizeError

MODEL_NAMES = ('InvMIHNet',)
"""The values of the option ``model``: the one architecture this code builds."""

__all__ = ['MODEL_NAMES', 'NetworkConfig', 'SizeError']


@dataclass(frozen=True)
class NetworkConfig(Grid):
    """The shape of an InvMIHNet: ``scale_h x scale_w`` grid (N = scale_h * scale_w secrets)."""
    iir_block_num: tuple[int, ...]
    use_conv_downsampling: bool = False
    iih_block_num: int = 16
    channels: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, 'iir_block_num', tuple(self.iir_block_num))
        if self.channels != 3:
            raise ValueError(f'only 3-channel (RGB) images are supported, got {self.channels} channels: the '
                             f'losses and the stego split assume RGB')

    @classmethod
    def from_options(cls, opt: dict) -> 'NetworkConfig':
        """The configuration of a parsed option dict (see ``options.parse``)."""
        net_g = opt['network_G']
        return cls(scale_h=opt['scale_H'], scale_w=opt['scale_W'], iir_block_num=tuple(net_g['block_num']),
                   use_conv_downsampling=bool(net_g['which_model_G']['use_ConvDownsampling']),
                   iih_block_num=opt['network_H']['block_num'], channels=net_g['in_nc'])

    @property
    def rescales(self) -> bool:
        """False for a 1 x 1 grid (HiNet): one secret hidden at full size, IIR the identity, no latent."""
        return self.num_images > 1

    # ------------------------------------------------------------------ descriptions
    def describe(self) -> str:
        """One readable line, used in error messages."""
        if not self.rescales:
            return f'HiNet (InvMIHNet 1 x 1, no IIR): IIH block_num={self.iih_block_num}'
        conv = ', ConvDownsampling' if self.use_conv_downsampling else ''
        return (f'InvMIHNet N={self.num_images} ({self.scale_h} x {self.scale_w}): IIR block_num='
                f'{list(self.iir_block_num)}{conv}, IIH block_num={self.iih_block_num}')

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able dict that identifies the configuration (stored in stego key files)."""
        fp = asdict(self)
        fp['iir_block_num'] = list(self.iir_block_num)
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
                    'iih_block_num': int, 'channels': int}
        missing = sorted(set(expected) - set(fp))
        unknown = sorted(set(fp) - set(expected))
        if missing or unknown:
            raise ValueError(f'configuration fingerprint: missing keys {missing}, unknown keys {unknown}')
        for key, kind in expected.items():
            if not isinstance(fp[key], kind) or (kind is int and isinstance(fp[key], bool)):
                raise ValueError(f'configuration fingerprint: {key} must be {kind.__name__}, got {fp[key]!r}')
        return cls(**fp)

    def differences(self, other: 'NetworkConfig') -> list[str]:
        """Human-readable differences between two configurations (empty when equal)."""
        mine, theirs = self.fingerprint(), other.fingerprint()
        return [f'{key} {mine[key]!r} vs {theirs[key]!r}' for key in mine if mine[key] != theirs[key]]
