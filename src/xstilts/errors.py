"""The one exception type that reaches a person: the CLI prints its message and exits 2."""


class XstiltsError(Exception):
    """A problem with the user's input (config, task, language, file, row, network).

    The message is a single line naming what is wrong, where, and what is allowed.
    """
