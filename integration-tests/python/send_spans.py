"""Sends one span with the OpenTelemetry Python SDK's OTLP exporter, for
integration-tests/tests/tls.rs.

Usage: send_spans.py grpc|http ENDPOINT SPAN_NAME

TLS comes from the SDK's own environment variables, as a user would set them:
OTEL_EXPORTER_OTLP_CERTIFICATE (the CA to trust), and for mTLS
OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY.
Exits 0 when the exporter reported success, 1 when it did not.
"""

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class RecordingExporter(SpanExporter):
    """Passes spans on and keeps each export's result (the SDK only logs it)."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    protocol, endpoint, span_name = sys.argv[1:4]
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        sys.exit(f"unknown protocol {protocol!r}: grpc or http")
    # A short timeout: a refused handshake is retried until it passes.
    exporter = RecordingExporter(OTLPSpanExporter(endpoint=endpoint, timeout=3))
    provider = TracerProvider(resource=Resource.create({"service.name": "python-tls-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("sloop-tls-test").start_as_current_span(span_name):
        pass
    provider.shutdown()
    print(f"{protocol} {endpoint} {span_name}: {exporter.results}")
    sys.exit(0 if exporter.results == [SpanExportResult.SUCCESS] else 1)


if __name__ == "__main__":
    main()
