"""Option files (``options/train``, ``options/test``) and the parser that validates them."""
from options.options import OptionError, parse, dict_to_yaml

__all__ = ['OptionError', 'parse', 'dict_to_yaml']
