//! Decoding `jaeger.thrift` batches: a `Batch` struct in the binary protocol (the
//! body of `POST /api/traces`), and the agent's `emitBatch` call in the compact or
//! binary protocol (one UDP datagram).
//!
//! The `thrift` crate reads the protocols; the structs are read here by hand (the
//! Collector uses code generated from `jaeger.thrift`; generating it needs the
//! Thrift compiler at build time). Hostile sizes are bounded by the crate's
//! [`TConfiguration`]: no string or list may claim more than the input holds, and
//! nesting is limited, so a short input cannot make the decoder allocate much.

use thrift::protocol::{TBinaryInputProtocol, TCompactInputProtocol, TInputProtocol, TMessageType, TType};
use thrift::TConfiguration;

use super::model::{Batch, Log, Process, Span, SpanRef, Tag, TagValue};

/// A Thrift input that is not a well-formed Jaeger batch.
#[derive(Debug, thiserror::Error)]
#[error("malformed Jaeger Thrift {what}: {message}")]
pub struct ThriftError {
    what: &'static str,
    message: String,
}

type Result<T> = std::result::Result<T, ThriftError>;

/// Which Thrift protocol a datagram is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `TCompactProtocol` (the agent's port 6831).
    Compact,
    /// `TBinaryProtocol` (the agent's port 6832, and HTTP bodies).
    Binary,
}

/// Limits for an input of `len` bytes: nothing may claim more than that.
fn config(len: usize) -> TConfiguration {
    TConfiguration::builder()
        .max_message_size(Some(len))
        .max_frame_size(Some(len))
        .max_string_size(Some(len))
        .max_container_size(Some(len))
        .max_recursion_depth(Some(16))
        .build()
        .unwrap_or_default()
}

/// Decodes a `Batch` struct in the binary protocol (a `POST /api/traces` body).
pub fn decode_batch(body: &[u8]) -> Result<Batch> {
    let mut p = TBinaryInputProtocol::with_config(body, true, config(body.len()));
    read_batch(&mut p).map_err(|e| ThriftError {
        what: "batch",
        message: e.to_string(),
    })
}

/// Decodes one agent datagram: the `emitBatch` call.
pub fn decode_emit_batch(datagram: &[u8], protocol: Protocol) -> Result<Batch> {
    let config = config(datagram.len());
    let decoded = match protocol {
        Protocol::Compact => read_emit_batch(&mut TCompactInputProtocol::with_config(datagram, config)),
        Protocol::Binary => read_emit_batch(&mut TBinaryInputProtocol::with_config(datagram, true, config)),
    };
    decoded.map_err(|e| ThriftError {
        what: "emitBatch call",
        message: e.to_string(),
    })
}

/// Errors while reading: the crate's, or a field the IDL requires that is missing.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Thrift(#[from] thrift::Error),
    #[error("{0}")]
    Invalid(String),
}

type Read<T> = std::result::Result<T, ReadError>;

fn read_emit_batch(p: &mut dyn TInputProtocol) -> Read<Batch> {
    let message = p.read_message_begin()?;
    if message.name != "emitBatch" {
        return Err(ReadError::Invalid(format!(
            "method {:?} is not supported (only emitBatch)",
            message.name
        )));
    }
    if !matches!(message.message_type, TMessageType::Call | TMessageType::OneWay) {
        return Err(ReadError::Invalid(format!("{:?} is not a call", message.message_type)));
    }
    let mut batch = None;
    read_struct(p, "emitBatch_args", &[], |p, id, ty| match (id, ty) {
        (1, TType::Struct) => {
            batch = Some(read_batch(p)?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    p.read_message_end()?;
    batch.ok_or_else(|| ReadError::Invalid("emitBatch_args.batch is missing".into()))
}

/// Reads a struct, calling `field` with each field's id and type; `field` answers
/// whether it read the value (else it is skipped). Fails if a field whose id is in
/// `required` never came.
fn read_struct(
    p: &mut dyn TInputProtocol,
    name: &str,
    required: &[i16],
    mut field: impl FnMut(&mut dyn TInputProtocol, i16, TType) -> Read<bool>,
) -> Read<()> {
    let mut seen: u32 = 0;
    p.read_struct_begin()?;
    loop {
        let header = p.read_field_begin()?;
        if header.field_type == TType::Stop {
            break;
        }
        let id = header.id.unwrap_or(0);
        if field(p, id, header.field_type)? {
            if (0..32).contains(&id) {
                seen |= 1 << id;
            }
        } else {
            p.skip(header.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()?;
    match required.iter().find(|&&id| seen & (1 << id) == 0) {
        Some(id) => Err(ReadError::Invalid(format!("{name}: required field {id} is missing"))),
        None => Ok(()),
    }
}

/// Reads a list of structs.
fn read_list<T>(p: &mut dyn TInputProtocol, mut item: impl FnMut(&mut dyn TInputProtocol) -> Read<T>) -> Read<Vec<T>> {
    let list = p.read_list_begin()?;
    if list.element_type != TType::Struct {
        return Err(ReadError::Invalid(format!(
            "a list of {:?} where structs belong",
            list.element_type
        )));
    }
    // Not `with_capacity(size)`: the size is the sender's claim.
    let mut items = Vec::new();
    for _ in 0..list.size {
        items.push(item(p)?);
    }
    p.read_list_end()?;
    Ok(items)
}

/// A string as the Collector keeps it: bytes that are not UTF-8 are replaced, not refused.
fn read_string(p: &mut dyn TInputProtocol) -> Read<String> {
    let bytes = p.read_bytes()?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn read_batch(p: &mut dyn TInputProtocol) -> Read<Batch> {
    let mut batch = Batch::default();
    read_struct(p, "Batch", &[1, 2], |p, id, ty| {
        match (id, ty) {
            (1, TType::Struct) => batch.process = Some(read_process(p)?),
            (2, TType::List) => batch.spans = read_list(p, read_span)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(batch)
}

fn read_process(p: &mut dyn TInputProtocol) -> Read<Process> {
    let mut process = Process::default();
    read_struct(p, "Process", &[1], |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => process.service_name = read_string(p)?,
            (2, TType::List) => process.tags = Some(read_list(p, read_tag)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(process)
}

fn read_span(p: &mut dyn TInputProtocol) -> Read<Span> {
    let mut span = Span::default();
    let (mut start, mut duration) = (0i64, 0i64);
    read_struct(p, "Span", &[1, 2, 3, 4, 5, 7, 8, 9], |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => span.trace_id_low = p.read_i64()? as u64,
            (2, TType::I64) => span.trace_id_high = p.read_i64()? as u64,
            (3, TType::I64) => span.span_id = p.read_i64()? as u64,
            (4, TType::I64) => span.parent_span_id = p.read_i64()? as u64,
            (5, TType::String) => span.operation_name = read_string(p)?,
            (6, TType::List) => span.references = read_list(p, read_span_ref)?,
            // `flags`: not translated, as in the Collector.
            (7, TType::I32) => {
                p.read_i32()?;
            }
            (8, TType::I64) => start = p.read_i64()?,
            (9, TType::I64) => duration = p.read_i64()?,
            (10, TType::List) => span.tags = read_list(p, read_tag)?,
            (11, TType::List) => span.logs = read_list(p, read_log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    span.start_unix_nano = micros_to_nanos(start);
    span.end_unix_nano = micros_to_nanos(start.wrapping_add(duration));
    Ok(span)
}

/// µs since the epoch to ns, wrapping as the Collector's `uint64(µs) * 1000` does.
fn micros_to_nanos(micros: i64) -> u64 {
    (micros as u64).wrapping_mul(1000)
}

fn read_span_ref(p: &mut dyn TInputProtocol) -> Read<SpanRef> {
    let mut r = SpanRef::default();
    read_struct(p, "SpanRef", &[1, 2, 3, 4], |p, id, ty| {
        match (id, ty) {
            (1, TType::I32) => r.ref_type = p.read_i32()?,
            (2, TType::I64) => r.trace_id_low = p.read_i64()? as u64,
            (3, TType::I64) => r.trace_id_high = p.read_i64()? as u64,
            (4, TType::I64) => r.span_id = p.read_i64()? as u64,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(r)
}

fn read_log(p: &mut dyn TInputProtocol) -> Read<Log> {
    let mut log = Log::default();
    read_struct(p, "Log", &[1, 2], |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => log.unix_nano = micros_to_nanos(p.read_i64()?),
            (2, TType::List) => log.fields = read_list(p, read_tag)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(log)
}

fn read_tag(p: &mut dyn TInputProtocol) -> Read<Tag> {
    let mut key = String::new();
    let mut v_type = 0;
    let (mut v_str, mut v_double, mut v_bool, mut v_long, mut v_binary) = (String::new(), 0.0, false, 0, Vec::new());
    read_struct(p, "Tag", &[1, 2], |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => key = read_string(p)?,
            (2, TType::I32) => v_type = p.read_i32()?,
            (3, TType::String) => v_str = read_string(p)?,
            (4, TType::Double) => v_double = p.read_double()?,
            (5, TType::Bool) => v_bool = p.read_bool()?,
            (6, TType::I64) => v_long = p.read_i64()?,
            (7, TType::String) => v_binary = p.read_bytes()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let value = match v_type {
        0 => TagValue::Str(v_str),
        1 => TagValue::Double(v_double),
        2 => TagValue::Bool(v_bool),
        3 => TagValue::Long(v_long),
        4 => TagValue::Binary(v_binary),
        // The Go enum's String() for values it does not define.
        _ => TagValue::Unknown("<UNSET>".into()),
    };
    Ok(Tag { key, value })
}
