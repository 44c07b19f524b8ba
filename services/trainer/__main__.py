"""`python -m services.trainer`: serve the trainer with settings from MLBUS_TRAINER_* variables."""

from services.common.serve import serve
from services.trainer.app import create_app
from services.trainer.config import Settings

settings = Settings()
serve(create_app(settings), settings.host, settings.port)
