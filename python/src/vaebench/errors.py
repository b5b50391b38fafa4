"""The one error type of the package: bad input, named."""


class VaeCheckError(ValueError):
    """What vaebench.check cannot do with the model, loss or options it was given. The message
    names the module, call, option or file and what is wrong; nothing of ours in a traceback
    is needed to read it."""
