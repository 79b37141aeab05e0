"""The loaded notification channels in words: where each one's messages go now (admin page, ``kpi demo``)."""

from __future__ import annotations

from kpi_core.config import Settings
from kpi_core.declarations import ChannelContext, NotificationChannel
from kpi_core.plugins import PluginHost


def channel_status(channel: NotificationChannel, settings: Settings) -> str:
    """The channel's own sentence about where its messages go (a failing ``describe`` is said, not raised)."""
    context = ChannelContext(settings=settings, data_dir=settings.data_dir, timeout=channel.timeout)
    if channel.describe is None:
        return channel.description or channel.label
    try:
        return channel.describe(context)
    except Exception as exc:  # a plugin's fault: shown, never failing the page or the command
        return f"The channel could not say where its messages go: {type(exc).__name__}: {exc}"


def where_messages_go(settings: Settings, plugins: PluginHost) -> list[str]:
    """One line per loaded channel: ``E-mail: <where it goes>``."""
    channels = sorted(plugins.notification_channels.values(), key=lambda channel: channel.key)
    return [f"{channel.label}: {channel_status(channel, settings)}" for channel in channels]
