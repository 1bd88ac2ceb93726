"""The WSGI application gunicorn serves (Procfile: `gunicorn app:app`)."""

from flux_service import create_app

app = create_app()
