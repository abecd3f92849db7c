"""The real OpenTelemetry Python SDK and its OTLP/HTTP exporters, protobuf and
JSON, with and without gzip, pointed at a real `cairnd`: every GenAI span it
exports is then found in the ledger by `cairn incident --trace-id`, with the
fields `schemas/otlp-mapping.md` promises, read back with `cairn get`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as ProtoCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtoSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import Daemon

SERVICE = "support-bot"
INPUT = [{"role": "user", "parts": [{"type": "text", "content": "Where is parcel 7?"}]}]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "It is out for delivery."}],
        "finish_reason": "stop",
    }
]


def record_spans() -> Sequence[ReadableSpan]:
    """What a GenAI-instrumented request handler emits: an HTTP server span,
    a chat call with its content captured, one without (the instrumentations'
    default), and a tool call, all in one trace."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("support.bot", "1.2.0")
    with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("enduser.id", "cust-42")
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.seed": 1234,
                    "gen_ai.request.max_tokens": 256,
                    "gen_ai.usage.input_tokens": 41,
                    "gen_ai.usage.output_tokens": 9,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.input.messages": json.dumps(INPUT),
                    "gen_ai.output.messages": json.dumps(OUTPUT),
                    "enduser.id": "cust-42",
                    "session.id": "sess-9",
                }
            )
        with tracer.start_as_current_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT
        ) as quiet:
            quiet.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 5,
                    "enduser.id": "cust-42",
                }
            )
            quiet.set_status(Status(StatusCode.ERROR, "rate limited"))
        with tracer.start_as_current_span("execute_tool track_parcel") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "track_parcel")
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert len(spans) == 4
    return spans


def by_name(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    return next(s for s in spans if s.name == name)


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def exporters(daemon: Daemon) -> dict[str, SpanExporter]:
    url = daemon.traces_url()
    return {
        "protobuf": ProtoSpanExporter(endpoint=url),
        "protobuf+gzip": ProtoSpanExporter(
            endpoint=url, compression=ProtoCompression.Gzip
        ),
        "json": JsonSpanExporter(endpoint=url),
        "json+gzip": JsonSpanExporter(endpoint=url, compression=JsonCompression.GZIP),
    }


def ledger_entries(daemon: Daemon, trace_id: str) -> list[dict[str, Any]]:
    """The decisions of one trace, found the way an investigator finds them."""
    report = daemon.cairn("incident", "--trace-id", trace_id)
    assert isinstance(report, dict)
    rows = report["entries"]
    assert isinstance(rows, list)
    out = []
    for row in rows:
        entry = daemon.cairn("get", "--seq", str(row["seq"]))
        assert isinstance(entry, dict)
        out.append(entry)
    return out


@pytest.mark.parametrize("encoding", ["protobuf", "protobuf+gzip", "json", "json+gzip"])
def test_every_exported_genai_span_is_in_the_ledger(
    cairnd: Daemon, encoding: str
) -> None:
    spans = record_spans()
    exporter = exporters(cairnd)[encoding]
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()

    chat = by_name(spans, "chat gpt-4o")
    quiet = by_name(spans, "chat gpt-4o-mini")
    trace_id, chat_id = hex_ids(chat)
    entries = ledger_entries(cairnd, trace_id)
    assert sorted(e["span_id"] for e in entries) == sorted(
        [chat_id, hex_ids(quiet)[1]]
    ), "the two model calls, not the HTTP or tool spans"

    e = next(e for e in entries if e["span_id"] == chat_id)
    assert e["kind"] == "decision"
    assert e["stream"] == SERVICE
    assert e["model"] == {"name": "gpt-4o", "version": "gpt-4o-2024-08-06"}
    assert e["trace_id"] == trace_id
    assert e["operation"] == "chat"
    assert e["subject"] == "cust-42"
    assert e["session"] == "sess-9"
    assert e["params"] == {"temperature": 0.2, "seed": 1234, "max_tokens": 256}
    assert e["input"] == {"messages": INPUT}
    assert e["output"] == {"messages": OUTPUT}
    assert chat.start_time is not None and chat.end_time is not None
    assert e["latency_ms"] == pytest.approx(
        (chat.end_time - chat.start_time) / 1e6, abs=1e-3
    )
    attrs = e["attributes"]
    assert attrs["gen_ai.usage.input_tokens"] == "41"
    assert attrs["gen_ai.usage.output_tokens"] == "9"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.response.finish_reasons"] == '["stop"]'
    assert attrs["otel.scope.name"] == "support.bot"
    assert "otlp.input" not in attrs

    q = next(e for e in entries if e["span_id"] != chat_id)
    assert q["model"] == {"name": "gpt-4o-mini", "version": "gpt-4o-mini"}
    assert q["input"] is None and q["output"] is None
    assert q["attributes"]["otlp.input"] == "not_captured"
    assert q["attributes"]["otlp.output"] == "not_captured"
    assert q["attributes"]["otel.status_code"] == "ERROR"
    assert q["attributes"]["otel.status_description"] == "rate limited"

    assert cairnd.metric('cairn_otlp_spans_total{outcome="recorded"}') == 2
    assert cairnd.metric('cairn_otlp_spans_total{outcome="ignored"}') == 2


def test_an_export_sent_twice_is_recorded_once(cairnd: Daemon) -> None:
    spans = record_spans()
    for encoding in ["protobuf", "json"]:
        exporter = exporters(cairnd)[encoding]
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    trace_id, _ = hex_ids(spans[0])
    assert len(ledger_entries(cairnd, trace_id)) == 2
    assert cairnd.metric('cairn_otlp_spans_total{outcome="recorded"}') == 4, (
        "both exports were acknowledged, the second through the idempotency keys"
    )
