"""The junk filter: a Bayesian classifier of message words, as mox's ``junk`` package (see
``filter.py`` for the computation and our storage, ``tokenize.py`` for the words)."""

from mox.junk.filter import Filter, FilterError, Params, Result, WordScore

__all__ = ["Filter", "FilterError", "Params", "Result", "WordScore"]
