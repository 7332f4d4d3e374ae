"""Sends three spans with the OpenTelemetry Python SDK's Zipkin exporter, for
integration-tests/tests/zipkin.rs.

Usage: zipkin_send.py json|proto ENDPOINT

The spans of one trace, at fixed times (whole microseconds, as Zipkin carries
them): a SERVER span `GET /cart` with an event, its CLIENT child `SELECT cart`, and
an INTERNAL child `charge card` whose status is ERROR. The service is
`checkout-<format>`, the local endpoint 10.1.2.3:8080. Prints one JSON object per
span (name and hex ids) for the test to match, and exits 0 when every export
reported success, 1 when one did not.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id, set_span_in_context

# Beside this file; its SDK imports are in this venv too.
from send_spans import RecordingExporter

# 2023-11-14T22:13:20.000123Z, in ns; every time below is a whole number of µs.
START = 1_700_000_000_000_123_000


def main():
    encoding, endpoint = sys.argv[1:3]
    if encoding == "json":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter
    elif encoding == "proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter
    else:
        sys.exit(f"unknown encoding {encoding!r}: json or proto")
    exporter = RecordingExporter(
        ZipkinExporter(endpoint=endpoint, local_node_ipv4="10.1.2.3", local_node_port=8080, timeout=5)
    )
    provider = TracerProvider(resource=Resource.create({"service.name": f"checkout-{encoding}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("cart-service", "2.1.0")

    server = tracer.start_span(
        "GET /cart",
        kind=SpanKind.SERVER,
        attributes={"http.method": "GET", "http.status_code": 200},
        start_time=START,
    )
    server.add_event("cache miss", {"key": "cart:42"}, timestamp=START + 1_000)
    parent = set_span_in_context(server)
    client = tracer.start_span(
        "SELECT cart", context=parent, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}, start_time=START + 2_000
    )
    client.end(end_time=START + 7_000)
    failed = tracer.start_span("charge card", context=parent, start_time=START + 8_000)
    failed.set_status(Status(StatusCode.ERROR, "card declined"))
    failed.end(end_time=START + 9_000)
    server.end(end_time=START + 10_000)
    provider.shutdown()

    for span in (server, client, failed):
        context = span.get_span_context()
        print(
            json.dumps(
                {
                    "name": span.name,
                    "trace_id": format_trace_id(context.trace_id),
                    "span_id": format_span_id(context.span_id),
                }
            )
        )
    ok = exporter.results and all(r == SpanExportResult.SUCCESS for r in exporter.results)
    if not ok:
        print(f"export results: {exporter.results}", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
