"""A plugin (`WAYPOINT_PLUGINS=tests.kit.priced_model`) installing the priced fake chat model.

Importing this module replaces the registry's chat model factory for the whole process: only
processes started with the plugin import it. Tests take the fakes from `tests.kit.priced_fakes`.
"""

from __future__ import annotations

from tests.kit.priced_fakes import factory
from waypoint.capabilities import registry

registry.chat_model_factory = factory
