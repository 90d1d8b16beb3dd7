"""The exception type for problems a user can fix."""


class NapariGanError(ValueError):
    """Invalid input, file or setting, with a message that names the value and the fix.

    The command line prints these as one line and exits with status 2; the napari widgets
    show them as notifications. Any other exception is a bug in napari-gan.
    """
