# Flux API as the Procfile runs it, in a container. Settings come from the environment only.
#
#   docker build -t flux-api .
#   docker run -p 8000:8000 flux-api     # the demo: prints the URL and an API key to use
#   docker run -p 8000:8000 -e CF_ACCOUNT_ID=… -e CF_API_TOKEN=… -e API_KEY=… flux-api
#
# Debian 12's slim image, published for amd64, arm64 and Debian's other architectures. To
# build from the same bytes every time, name its digest:
#   docker build --build-arg BASE=debian:bookworm-slim@sha256:… -t flux-api .
ARG BASE=debian:bookworm-slim

# The virtualenv, built where a compiler is: gunicorn-h1c is published as source only.
FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
# What gunicorn-h1c's build needs, pinned like everything else.
RUN printf 'setuptools==84.2.1\nwheel==0.48.0\npackaging==26.3\n' >/tmp/build-constraints.txt
ENV PIP_CONSTRAINT=/tmp/build-constraints.txt PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# What runs: the same base and the same /usr/bin/python3, so the virtualenv works as built.
# The service runs as its own user, who owns /data: the disk store's folder, for a volume
# (IMAGE_STORE=file:///data keeps pictures across restarts).
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 flux \
 && useradd --system --uid 10001 --gid flux --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin flux \
 && install -d -o flux -g flux /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY Procfile app.py config.py gunicorn.conf.py openapi.yaml ./
COPY flux_service ./flux_service
# Compiled now: the service's user cannot write here, so it would compile them every start.
RUN python3 -m compileall -q /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PORT=8000
USER 10001:10001
EXPOSE 8000
# The probe a load balancer uses: 200 while the image store answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=4)"]
# With Cloudflare credentials this becomes gunicorn, exactly as in the Procfile; without
# them it starts the Workers AI stand-in beside gunicorn (the demo), as `make run` does.
# Either way SIGTERM stops gunicorn gracefully: a generation in flight gets up to 30 s
# (gunicorn.conf.py's graceful_timeout), so give `docker stop` -t 35.
CMD ["python3", "-m", "flux_service.launcher"]
