"""`python -m services.predictor`: serve the predictor."""

from services.common.serve import serve
from services.predictor.app import create_app
from services.predictor.config import Settings

settings = Settings()
serve(create_app(settings), settings.host, settings.port)
