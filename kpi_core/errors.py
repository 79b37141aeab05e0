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


class NotFound(KpiError):
    """The record does not exist, or the caller may not see it (answered alike: 404)."""


class Conflict(KpiError):
    """The change would break a uniqueness rule (409); ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Invalid(KpiError):
    """Input the schema could not catch is invalid (422); ``field`` names it."""

    def __init__(self, field: str, message: str, location: str = "json") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.location = location


class Unavailable(KpiError):
    """A service the request needs (Redis, the job queue) is down; answered 503 with Retry-After."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
