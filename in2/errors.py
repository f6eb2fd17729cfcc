"""Errors a user can act on.

Every failure that comes from what a user passed in (an image, a mask, a weights path)
is raised as one of these, with a message that names the problem and the fix, so
front ends (CLI, ComfyUI, Gradio) can show it as is instead of a torch traceback.
"""


class IN2Error(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(IN2Error, ValueError):
    """An image or mask that cannot be inpainted as given (size, channels, dtype, content)."""


class WeightsError(IN2Error):
    """Weights that cannot be found or do not match the model (missing, corrupt, pickled, mismatched)."""


class StorageError(IN2Error):
    """A file or folder that cannot be written or created (permissions, a full disk, a file
    where a folder is needed); nothing half-written is left behind."""


class EmptyMaskWarning(UserWarning):
    """A mask with nothing to fill (empty as given, or after threshold, grow and the like):
    the image comes back unchanged, and the caller is told so."""


EMPTY_MASK_NOTE = "nothing to fill (the mask is empty after threshold and grow): the output is the photo unchanged"
