"""Run the registry: `python -m services.registry`."""

from services.common.serve import serve
from services.registry.app import create_app
from services.registry.config import Settings

settings = Settings()
serve(create_app(settings), settings.host, settings.port)
