"""Foundation: stats, machine fingerprint, atomic writes, YAML limits, tables, validation, limits, path checks, scheduler environment, errors."""
