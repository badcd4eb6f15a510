# The HostPulse agent (hostpulse-exporter): procfs collectors, Prometheus /metrics, OTLP/HTTP push,
# JSON push. Only the `exporter` extra is installed: no FastAPI, asyncpg or Redis client, and no
# gRPC (build with --build-arg EXTRAS=exporter-grpc for `--otlp-protocol grpc`).
#
#   podman build -f docker/exporter.Dockerfile -t hostpulse-exporter:0.1.0 .
#   offline, from a wheelhouse inside the build context (scripts/build-images makes one):
#   podman build -f docker/exporter.Dockerfile --build-arg WHEELHOUSE=build/wheelhouse ...
#
# Run it on a host (docs/images.md): --pid=host, the host's /proc mounted read-only at /host/proc,
# HOSTPULSE_HOST_NAME set to the node's name.
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# An empty directory by default: then pip installs from the package index.
ARG WHEELHOUSE=docker/no-wheelhouse
ARG EXTRAS=exporter
# This image's own packages of the hostpulse distribution; the others' code is removed.
ARG KEEP_PACKAGES="conventions exporter"
# Bytecode levels compiled into the image ("" none, "0", "2" for -OO). None for the agent: its
# ~9 MB of .pyc would put the image over its 150 MB target; each start then compiles in memory
# (~1.5 s of CPU once per start; the runtime runs with -OO).
ARG PYC_OPTIMIZE=""
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
LABEL org.opencontainers.image.title="hostpulse-exporter" \
      org.opencontainers.image.description="HostPulse agent: host metrics for Prometheus, OTLP and the HostPulse backend" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 hostpulse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin hostpulse
COPY --from=builder /opt/hostpulse /opt/hostpulse
# HOSTPULSE_PROCFS: the host's /proc mounted here (falls back to the container's own when absent).
# HOSTPULSE_HOST_NAME: set it to the node's name (Kubernetes: the downward API's spec.nodeName).
ENV PATH=/opt/hostpulse/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOSTPULSE_PROCFS=/host/proc \
    HOSTPULSE_PROMETHEUS__LISTEN=0.0.0.0:9860
USER 10001:10001
EXPOSE 9860
STOPSIGNAL SIGTERM
# /healthz on the address HOSTPULSE_PROMETHEUS__LISTEN names (a wildcard one is asked on loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as r; h, _, p = os.environ.get('HOSTPULSE_PROMETHEUS__LISTEN', '0.0.0.0:9860').rpartition(':'); h = h.strip('[]'); h = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1'}.get(h, h); r.urlopen(f'http://[{h}]:{p}/healthz' if ':' in h else f'http://{h}:{p}/healthz', timeout=4)"]
ENTRYPOINT ["hostpulse-exporter"]
