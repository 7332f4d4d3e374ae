"""Sends two spans (a server span and its client child) with the OpenTelemetry
Python SDK's Jaeger exporters, for integration-tests/tests/jaeger.rs.

Usage: jaeger_send.py agent|collector|grpc HOST PORT SUFFIX

- agent: opentelemetry-exporter-jaeger-thrift to the agent port (UDP, Thrift
  compact emitBatch);
- collector: the same exporter's collector_endpoint (HTTP POST /api/traces, Thrift
  binary);
- grpc: opentelemetry-exporter-jaeger-proto-grpc (jaeger.api_v2 PostSpans).

Prints one JSON object: what the SDK recorded (ids in hex) and the times the
exporter put on the wire (ns), for the test to compare with what reached the
backend. Exits 1 if an export failed.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from send_spans import RecordingExporter


class SpanKeepingExporter(RecordingExporter):
    """send_spans.py's recording exporter, also keeping the spans it passed on."""

    def __init__(self, inner):
        super().__init__(inner)
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return super().export(spans)


def exporter(mode, host, port):
    if mode == "agent":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(agent_host_name=host, agent_port=port)
    if mode == "collector":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(collector_endpoint=f"http://{host}:{port}/api/traces?format=jaeger.thrift", timeout=5)
    if mode == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        return JaegerExporter(collector_endpoint=f"{host}:{port}", insecure=True, timeout=5)
    sys.exit(f"unknown mode {mode!r}: agent, collector or grpc")


def on_the_wire(mode, start, end):
    """The start and end (ns) the exporter puts on the wire, by its own helpers:
    Thrift carries µs (start and duration rounded), protobuf a Timestamp and a
    Duration computed through a float (so up to a few hundred ns off the SDK's)."""
    if mode == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import translate

        first = translate._proto_timestamp_from_epoch_nanos(start)
        last = translate._proto_timestamp_from_epoch_nanos(end)
        duration = translate._duration_from_two_time_stamps(first, last)
        wire_start = first.seconds * 10**9 + first.nanos
        return wire_start, wire_start + duration.seconds * 10**9 + duration.nanos
    from opentelemetry.exporter.jaeger.thrift import translate

    start_us = translate._nsec_to_usec_round(start)
    return start_us * 1000, (start_us + translate._nsec_to_usec_round(end - start)) * 1000


def main():
    mode, host, port, suffix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    recording = SpanKeepingExporter(exporter(mode, host, port))
    resource = Resource.create({"service.name": "jaeger-python", "deployment.environment": "test"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(recording))
    tracer = provider.get_tracer("jaeger-test-lib", "1.2.3")
    linked = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(1),
    )
    with tracer.start_as_current_span(f"parent-{suffix}", kind=SpanKind.SERVER):
        with tracer.start_as_current_span(
            f"child-{suffix}",
            kind=SpanKind.CLIENT,
            links=[Link(linked)],
            attributes={"http.method": "GET", "retries": 3, "cached": False, "ratio": 0.25},
        ) as child:
            child.add_event("cache-miss", {"key": "user:42"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()

    spans = {}
    for span in recording.spans:
        kind = "parent" if span.name.startswith("parent") else "child"
        spans[kind] = {
            "name": span.name,
            "trace_id": format(span.context.trace_id, "032x"),
            "span_id": format(span.context.span_id, "016x"),
            "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
            "sdk_start": span.start_time,
            "wire": on_the_wire(mode, span.start_time, span.end_time),
            "wire_event": [on_the_wire(mode, e.timestamp, e.timestamp)[0] for e in span.events],
        }
    print(json.dumps(spans))
    sys.exit(0 if recording.results and all(r == SpanExportResult.SUCCESS for r in recording.results) else 1)


if __name__ == "__main__":
    main()
