# syntax=docker/dockerfile:1
# magnet-forecast service. Build: docker build -t magnet-forecast .
# The base is an argument so the same file builds from a locally made Debian base (see scripts/docker-smoke.sh).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md constraints.txt ./
COPY forecast ./forecast
COPY api ./api
COPY magnet_forecast ./magnet_forecast
# The assumptions go into the wheel as package data (forecast/assumptions): the installed package is self-contained.
COPY assumptions ./assumptions
# plotly is needed only for its bundled plotly.min.js: copy the file next to the app, drop the package.
# matplotlib (and what it pulls in) is optional for Prophet: plotting only. Test suites shipped inside
# libraries are not needed at run time, nor compiled bytecode (about 90 MB; the service still becomes
# healthy within a few seconds, see scripts/docker-smoke.sh), nor type stubs, Cython and C/C++ sources
# and headers (about 20 MB; Prophet's Stan model directory is kept whole).
RUN pip install --no-cache-dir -c constraints.txt . \
 && SP="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && cp "$SP/plotly/package_data/plotly.min.js" "$SP/api/static/plotly.min.js" \
 && pip uninstall -y plotly matplotlib pillow fonttools kiwisolver contourpy cycler \
 && find "$SP" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
 && find "$SP" -path "$SP/prophet/stan_model" -prune -o -type f \
      \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' \) \
      -exec rm -f {} + \
 && rm -rf "$SP/pip" "$SP/setuptools"

# Compute the bundled version once at build time, so a fresh container starts without refitting.
RUN mkdir -p /data \
 && MAGNET_FORECAST_DATA_DIR=/data magnet-forecast refresh

FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    MAGNET_FORECAST_DATA_DIR=/data \
    DATABASE_URL=sqlite:////data/magnet_forecast.db \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
RUN useradd --system --create-home --uid 10001 --user-group app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /data /data
VOLUME ["/data"]
USER 10001:10001
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=2)"]
STOPSIGNAL SIGTERM
# The shipped server command (api/server.py): bounded request heads, read deadlines, connections and
# shutdown; it reads HOST, PORT and WORKERS. exec form: it is PID 1 and receives SIGTERM directly.
CMD ["magnet-forecast", "serve"]
