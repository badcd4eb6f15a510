"""Ingest adapters: each protocol (agent JSON, OTLP/HTTP, remote_write, scraping) only translates
into `backend.model`; nothing downstream knows where a sample came from."""
