from services.common.serve import serve
from services.ingest.app import create_app
from services.ingest.config import Settings

settings = Settings()
serve(create_app(settings), settings.host, settings.port)
