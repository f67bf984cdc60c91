"""The one exception type that the CLI turns into a clean, one-line error."""


class DstlError(Exception):
    """A problem with the user's input: the message names the file or id and the problem."""
