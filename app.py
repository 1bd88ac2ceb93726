"""The WSGI application gunicorn serves (Procfile: `gunicorn app:app`)."""

from flux_service.web.factory import create_app

app = create_app()
