"""Option files (``options/train``, ``options/test``) and the parser that validates them."""
from options.options import OptionError, dict_to_yaml, experiment_paths, parse

__all__ = ['OptionError', 'parse', 'dict_to_yaml', 'experiment_paths']
