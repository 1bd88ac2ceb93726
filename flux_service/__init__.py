"""Flux API: an OpenAI-compatible image generation service over Cloudflare Workers AI.

`flux_service.factory.create_app` builds the service. This package module imports nothing:
`config` reads the catalogue from here in gunicorn's master process, which must not load
requests or ssl before the gevent worker patches the standard library.
"""
