"""One way to rename a public parameter: the old spelling keeps working for a
release and warns with a FutureWarning that names the replacement."""

from .logging import warn

__all__ = ["DEPRECATED", "renamed_parameter"]

#: Default of a renamed (old) parameter, telling "not given" apart from any real value.
DEPRECATED = "deprecated"


def renamed_parameter(owner, old, old_value, new, new_value):
    """The value to use and the name to cite in errors for a renamed parameter.

    Parameters
    ----------
    owner : str
        Who takes the parameter, e.g. ``"CrossSubjectDecoder"``.
    old, new : str
        Old and new parameter names.
    old_value, new_value
        What the caller passed for each; ``old_value`` is :data:`DEPRECATED`
        when the old spelling was not used.

    Returns
    -------
    value, name : object, str
        ``(new_value, new)``, or ``(old_value, old)`` after a FutureWarning
        when the old spelling was given.
    """
    if isinstance(old_value, str) and old_value == DEPRECATED:
        return new_value, new
    warn(f"`{old}` of {owner} is deprecated and will be removed in the next release: use "
         f"`{new}={old_value!r}` instead.", FutureWarning)
    return old_value, old
