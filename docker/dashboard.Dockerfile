# The HostPulse dashboard (hostpulse-dashboard): serves the web UI; the browser talks to the backend
# at HOSTPULSE_BACKEND_URL. Only the `dashboard` extra; writes nothing, runs with a read-only root.
#
#   podman build -f docker/dashboard.Dockerfile -t hostpulse-dashboard:0.1.0 .
#   podman run --read-only -p 8080:8080 -e HOSTPULSE_BACKEND_URL=http://localhost:8000 hostpulse-dashboard:0.1.0
#   offline: --build-arg WHEELHOUSE=build/wheelhouse (scripts/build-images makes one)
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# An empty directory by default: then pip installs from the package index.
ARG WHEELHOUSE=docker/no-wheelhouse
ARG EXTRAS=dashboard
# This image's own packages of the hostpulse distribution; the others' code is removed.
ARG KEEP_PACKAGES="dashboards"
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
LABEL org.opencontainers.image.title="hostpulse-dashboard" \
      org.opencontainers.image.description="HostPulse dashboard: the real-time web UI (static files and its config), talking to the backend" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 hostpulse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin hostpulse
COPY --from=builder /opt/hostpulse /opt/hostpulse
# HOSTPULSE_BACKEND_URL: the backend's URL as the BROWSER reaches it (the UI calls it directly).
ENV PATH=/opt/hostpulse/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOSTPULSE_DASHBOARD_HOST=0.0.0.0 \
    HOSTPULSE_DASHBOARD_PORT=8080
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# /healthz on HOSTPULSE_DASHBOARD_HOST:HOSTPULSE_DASHBOARD_PORT (a wildcard address: on loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as r; h = os.environ.get('HOSTPULSE_DASHBOARD_HOST', '127.0.0.1'); h = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(h, h); p = os.environ.get('HOSTPULSE_DASHBOARD_PORT', '8080'); r.urlopen(f'http://[{h}]:{p}/healthz' if ':' in h else f'http://{h}:{p}/healthz', timeout=4)"]
ENTRYPOINT ["hostpulse-dashboard"]

