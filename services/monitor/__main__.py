from services.common.serve import serve
from services.monitor.app import create_app
from services.monitor.config import Settings

settings = Settings()
serve(create_app(settings), settings.host, settings.port)
