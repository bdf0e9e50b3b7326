"""Errors a user can act on. The CLI prints them as one line, never a traceback."""


class HarnessError(Exception):
    """A problem with input or environment, explained in one line."""


class ConfigError(HarnessError):
    """A bad option, matrix, recipe or CSV: the message names the field, the value and the valid choices."""


def choices_error(kind: str, value: object, valid) -> ConfigError:
    """The standard message for a value outside a fixed set of choices."""
    listed = ", ".join(str(v) for v in valid)
    return ConfigError(f"unknown {kind} {value!r}; valid choices: {listed}")
