# The HostPulse backend (hostpulse-backend): FastAPI + uvicorn. Only the `backend` extra: no OTel
# SDK and no agent outputs. Needs DATABASE_URL and REDIS_URL; writes nothing to its filesystem, so
# it runs with a read-only root (only /tmp may be a tmpfs).
#
#   podman build -f docker/backend.Dockerfile -t hostpulse-backend:0.1.0 .
#   podman run --read-only -e DATABASE_URL=... -e REDIS_URL=... hostpulse-backend:0.1.0
#   podman run ... hostpulse-backend:0.1.0 migrate            # apply migrations once, then exit
#   offline: --build-arg WHEELHOUSE=build/wheelhouse (scripts/build-images makes one)
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# An empty directory by default: then pip installs from the package index.
ARG WHEELHOUSE=docker/no-wheelhouse
ARG EXTRAS=backend
# This image's own packages of the hostpulse distribution; the others' code is removed.
ARG KEEP_PACKAGES="conventions backend"
# Bytecode levels compiled into the image ("" none, "0", "2" for -OO): what the process runs with.
ARG PYC_OPTIMIZE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY ${WHEELHOUSE}/ /tmp/wheelhouse/
COPY pyproject.toml README.md constraints.txt /src/
COPY conventions /src/conventions
COPY exporter /src/exporter
COPY backend /src/backend
COPY dashboards /src/dashboards
COPY launcher /src/launcher
# The runtime venv has only this component's extra: pip (from a separate tools venv) installs into
# it from outside, and the project's build backend runs in pip's own isolated environment. Only
# one bytecode level is kept (the root filesystem is read-only at run time, so nothing is cached).
RUN python3 -m venv /opt/build-tools \
 && python3 -m venv --without-pip /opt/hostpulse \
 && if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then \
      set -- --no-index --find-links /tmp/wheelhouse; \
    else set --; fi \
 && /opt/build-tools/bin/pip --python /opt/hostpulse/bin/python install "$@" \
      --constraint /src/constraints.txt --no-compile "/src[${EXTRAS}]" \
 && site=$(/opt/hostpulse/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && for package in conventions exporter backend dashboards launcher; do \
      case " ${KEEP_PACKAGES} " in *" ${package} "*) ;; *) rm -rf "${site:?}/${package}" ;; esac; \
    done \
 && for script in /opt/hostpulse/bin/hostpulse*; do \
      /opt/hostpulse/bin/python -c "import runpy; runpy.run_path('${script}')" \
        >/dev/null 2>&1 || rm -f "${script}"; \
    done \
 && for level in ${PYC_OPTIMIZE}; do \
      /opt/hostpulse/bin/python -m compileall -q -j 0 -o "${level}" /opt/hostpulse/lib; \
    done

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/hostpulse/hostpulse
LABEL org.opencontainers.image.title="hostpulse-backend" \
      org.opencontainers.image.description="HostPulse backend: ingest (JSON, OTLP/HTTP, remote_write), history in PostgreSQL, live data over WebSocket" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 hostpulse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin hostpulse
COPY --from=builder /opt/hostpulse /opt/hostpulse
# HOSTPULSE_HOST/HOSTPULSE_PORT: where `serve` listens (flags --host/--port override them).
ENV PATH=/opt/hostpulse/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOSTPULSE_HOST=0.0.0.0 \
    HOSTPULSE_PORT=8000
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
# /healthz (liveness: never depends on PostgreSQL) on HOSTPULSE_HOST:HOSTPULSE_PORT (a wildcard
# address is asked on loopback); a port given as `serve --port N` instead is not seen here.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as r; h = os.environ.get('HOSTPULSE_HOST', '127.0.0.1'); h = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(h, h); p = os.environ.get('HOSTPULSE_PORT', '8000'); r.urlopen(f'http://[{h}]:{p}/healthz' if ':' in h else f'http://{h}:{p}/healthz', timeout=4)"]
ENTRYPOINT ["hostpulse-backend"]
CMD ["serve"]
