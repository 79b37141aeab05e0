"""Domain exceptions shared by the services and mapped to answers by the web layer and CLI."""


class KpiError(Exception):
    """Base of every error the product reports to a person (never a traceback)."""


class ConfigError(KpiError):
    """A setting is missing or invalid; the message names the environment variable."""


class DatabaseUnavailable(KpiError):
    """The database cannot be reached."""


class SchemaOutOfDate(KpiError):
    """The database schema is older (or newer) than this code."""


class PluginLoadError(KpiError):
    """Plugins failed to load and KPI_STRICT_PLUGINS makes that fatal."""
