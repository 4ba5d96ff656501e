"""Error types. Every user-facing failure raises one of these with a message that names the
file, key or value at fault and what was expected; the CLI prints it without a traceback."""


class StaaError(Exception):
    """Base class for errors a user can fix (bad config, bad data)."""


class ConfigError(StaaError):
    """A config key or value is unknown, of the wrong type or out of range."""


class DataError(StaaError):
    """A corpus, audio file or array is missing, corrupt or malformed."""


class TrainingError(StaaError):
    """Training diverged (NaN/inf loss) or cannot resume."""


class WriteError(StaaError):
    """An output cannot be written: a read-only or missing folder, a file where a folder is needed,
    no permission, a full disk. The message names the output and the reason."""
