//! Running statements: the telemetry a statement may change ([`Target`]), and what
//! each editor does to it.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::converters::Out;
use super::eval::{Field, Key, Path, Subject, Val};
use super::statement::{listed, Editor, Mode, Statement, Strategy};
use super::{
    Condition, Context, DataPoint, DataPointView, LogView, MetricView, ResourceView, ScopeView, SpanEventView, SpanView,
};

/// A statement that failed on one item (a converter given the wrong type, a
/// substring out of range). What happens next is the caller's `error_mode`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// What went wrong, lowercase.
    pub message: String,
}

impl ExecError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// One data point of any type, to change.
#[derive(Debug)]
pub enum DataPointMut<'a> {
    /// A gauge or sum point.
    Number(&'a mut NumberDataPoint),
    /// A histogram point.
    Histogram(&'a mut HistogramDataPoint),
    /// An exponential histogram point.
    ExponentialHistogram(&'a mut ExponentialHistogramDataPoint),
    /// A summary point.
    Summary(&'a mut SummaryDataPoint),
}

/// The telemetry one statement runs against, borrowed mutably with what encloses it
/// (a span with its resource and scope). The variant decides the [`Context`].
#[derive(Debug)]
pub enum Target<'a> {
    /// A resource, for [`Context::Resource`].
    Resource {
        /// The resource (created when a statement sets one of its attributes).
        resource: &'a mut Option<Resource>,
    },
    /// An instrumentation scope, for [`Context::Scope`].
    Scope {
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
    /// A span, for [`Context::Span`].
    Span {
        /// The span.
        span: &'a mut Span,
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The enclosing scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
    /// A span event, for [`Context::SpanEvent`]. The caller moves the span's events
    /// out while they run, so the span can be read and changed beside its event.
    SpanEvent {
        /// The event.
        event: &'a mut Event,
        /// The span it belongs to.
        span: &'a mut Span,
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The enclosing scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
    /// A log record, for [`Context::Log`].
    Log {
        /// The record.
        log: &'a mut LogRecord,
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The enclosing scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
    /// A metric, for [`Context::Metric`].
    Metric {
        /// The metric.
        metric: &'a mut Metric,
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The enclosing scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
    /// A data point, for [`Context::DataPoint`]. The caller moves the metric's points
    /// out while they run (the metric keeps its type).
    DataPoint {
        /// The point.
        point: DataPointMut<'a>,
        /// The metric it belongs to.
        metric: &'a mut Metric,
        /// The enclosing resource.
        resource: &'a mut Option<Resource>,
        /// The enclosing scope.
        scope: &'a mut Option<InstrumentationScope>,
    },
}

/// Whether statements in `context` may change `field`.
pub(crate) fn settable(field: Field, context: Context) -> bool {
    use Field::*;
    let common = matches!(field, ResourceAttributes | ScopeName | ScopeVersion | ScopeAttributes);
    match context {
        Context::Resource => field == ResourceAttributes,
        Context::Scope => common,
        Context::Span => {
            common
                || matches!(
                    field,
                    Attributes | Name | Kind | StatusCode | StatusMessage | StartTime | EndTime | TraceState
                )
        }
        Context::SpanEvent => common || matches!(field, Name | Attributes | Time | SpanName | SpanAttributes),
        Context::Log => {
            common
                || matches!(
                    field,
                    Attributes | Body | SeverityNumber | SeverityText | Time | ObservedTime | EventName
                )
        }
        Context::Metric => common || matches!(field, Name | Description | Unit),
        Context::DataPoint => {
            common
                || matches!(
                    field,
                    Attributes
                        | Time
                        | StartTime
                        | ValueDouble
                        | ValueInt
                        | MetricName
                        | MetricDescription
                        | MetricUnit
                )
        }
    }
}

impl Target<'_> {
    /// The context of statements that run against this target.
    pub fn context(&self) -> Context {
        match self {
            Target::Resource { .. } => Context::Resource,
            Target::Scope { .. } => Context::Scope,
            Target::Span { .. } => Context::Span,
            Target::SpanEvent { .. } => Context::SpanEvent,
            Target::Log { .. } => Context::Log,
            Target::Metric { .. } => Context::Metric,
            Target::DataPoint { .. } => Context::DataPoint,
        }
    }

    /// A read-only view, for conditions and values.
    pub(crate) fn subject(&self) -> Subject<'_> {
        match self {
            Target::Resource { resource } => Subject::Resource(ResourceView {
                resource: resource.as_ref(),
            }),
            Target::Scope { resource, scope } => Subject::Scope(ScopeView {
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
            Target::Span { span, resource, scope } => Subject::Span(SpanView {
                span,
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
            Target::SpanEvent {
                event,
                span,
                resource,
                scope,
            } => Subject::SpanEvent(SpanEventView {
                event,
                span,
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
            Target::Log { log, resource, scope } => Subject::Log(LogView {
                log,
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
            Target::Metric {
                metric,
                resource,
                scope,
            } => Subject::Metric(MetricView {
                metric,
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
            Target::DataPoint {
                point,
                metric,
                resource,
                scope,
            } => Subject::DataPoint(DataPointView {
                point: match point {
                    DataPointMut::Number(p) => DataPoint::Number(p),
                    DataPointMut::Histogram(p) => DataPoint::Histogram(p),
                    DataPointMut::ExponentialHistogram(p) => DataPoint::ExponentialHistogram(p),
                    DataPointMut::Summary(p) => DataPoint::Summary(p),
                },
                metric,
                resource: resource.as_ref(),
                scope: scope.as_ref(),
            }),
        }
    }

    fn resource(&mut self) -> &mut Option<Resource> {
        match self {
            Target::Resource { resource }
            | Target::Scope { resource, .. }
            | Target::Span { resource, .. }
            | Target::SpanEvent { resource, .. }
            | Target::Log { resource, .. }
            | Target::Metric { resource, .. }
            | Target::DataPoint { resource, .. } => resource,
        }
    }

    fn scope(&mut self) -> Option<&mut Option<InstrumentationScope>> {
        match self {
            Target::Resource { .. } => None,
            Target::Scope { scope, .. }
            | Target::Span { scope, .. }
            | Target::SpanEvent { scope, .. }
            | Target::Log { scope, .. }
            | Target::Metric { scope, .. }
            | Target::DataPoint { scope, .. } => Some(scope),
        }
    }

    /// The attribute map `field` names; with `create`, a missing resource or scope
    /// is created to hold it.
    fn map_field(&mut self, field: Field, create: bool) -> Option<&mut Vec<KeyValue>> {
        match field {
            Field::ResourceAttributes => {
                let resource = self.resource();
                if create {
                    Some(&mut resource.get_or_insert_with(Resource::default).attributes)
                } else {
                    resource.as_mut().map(|r| &mut r.attributes)
                }
            }
            Field::ScopeAttributes => {
                let scope = self.scope()?;
                if create {
                    Some(&mut scope.get_or_insert_with(InstrumentationScope::default).attributes)
                } else {
                    scope.as_mut().map(|s| &mut s.attributes)
                }
            }
            Field::Attributes => match self {
                Target::Span { span, .. } => Some(&mut span.attributes),
                Target::SpanEvent { event, .. } => Some(&mut event.attributes),
                Target::Log { log, .. } => Some(&mut log.attributes),
                Target::DataPoint { point, .. } => Some(match point {
                    DataPointMut::Number(p) => &mut p.attributes,
                    DataPointMut::Histogram(p) => &mut p.attributes,
                    DataPointMut::ExponentialHistogram(p) => &mut p.attributes,
                    DataPointMut::Summary(p) => &mut p.attributes,
                }),
                _ => None,
            },
            Field::SpanAttributes => match self {
                Target::SpanEvent { span, .. } => Some(&mut span.attributes),
                _ => None,
            },
            _ => None,
        }
    }

    /// The string field `field` names; with `create`, a missing scope or status is
    /// created to hold it.
    fn str_field(&mut self, field: Field, create: bool) -> Option<&mut String> {
        if matches!(field, Field::ScopeName | Field::ScopeVersion) {
            let scope = self.scope()?;
            let scope = if create {
                scope.get_or_insert_with(InstrumentationScope::default)
            } else {
                scope.as_mut()?
            };
            return Some(if field == Field::ScopeName {
                &mut scope.name
            } else {
                &mut scope.version
            });
        }
        match (self, field) {
            (Target::Span { span, .. }, Field::Name) => Some(&mut span.name),
            (Target::Span { span, .. }, Field::TraceState) => Some(&mut span.trace_state),
            (Target::Span { span, .. }, Field::StatusMessage) => {
                let status = if create {
                    span.status.get_or_insert_with(Default::default)
                } else {
                    span.status.as_mut()?
                };
                Some(&mut status.message)
            }
            (Target::SpanEvent { event, .. }, Field::Name) => Some(&mut event.name),
            (Target::SpanEvent { span, .. }, Field::SpanName) => Some(&mut span.name),
            (Target::Log { log, .. }, Field::SeverityText) => Some(&mut log.severity_text),
            (Target::Log { log, .. }, Field::EventName) => Some(&mut log.event_name),
            (Target::Metric { metric, .. }, Field::Name) | (Target::DataPoint { metric, .. }, Field::MetricName) => {
                Some(&mut metric.name)
            }
            (Target::Metric { metric, .. }, Field::Description)
            | (Target::DataPoint { metric, .. }, Field::MetricDescription) => Some(&mut metric.description),
            (Target::Metric { metric, .. }, Field::Unit) | (Target::DataPoint { metric, .. }, Field::MetricUnit) => {
                Some(&mut metric.unit)
            }
            _ => None,
        }
    }

    /// What `path` points at, to change in place; `None` when it is missing.
    fn slot(&mut self, path: &Path) -> Option<Slot<'_>> {
        let base = match path.field {
            Field::Body => match self {
                Target::Log { log, .. } => Slot::Value(log.body.as_mut()?),
                _ => return None,
            },
            Field::Attributes | Field::ResourceAttributes | Field::ScopeAttributes | Field::SpanAttributes => {
                Slot::Map(self.map_field(path.field, false)?)
            }
            field => Slot::Str(self.str_field(field, false)?),
        };
        descend(base, &path.keys)
    }

    /// `set(path, value)`. A value of the wrong type for a typed field (an int for a
    /// name) leaves it unchanged, as in the Collector.
    fn set(&mut self, path: &Path, value: Out<'_>) {
        if !path.keys.is_empty() {
            match path.field {
                Field::Body => {
                    if let Target::Log { log, .. } = self {
                        set_in_value(log.body.get_or_insert_with(AnyValue::default), &path.keys, value);
                    }
                }
                field => {
                    if let Some(kvs) = self.map_field(field, true) {
                        if let Some((Key::Str(key), rest)) = path.keys.split_first() {
                            set_in_map(kvs, key, rest, value);
                        }
                    }
                }
            }
            return;
        }
        let int = match value.val() {
            Val::Int(i) => Some(i),
            _ => None,
        };
        match path.field {
            Field::Attributes | Field::ResourceAttributes | Field::ScopeAttributes | Field::SpanAttributes => {
                let map = match value {
                    Out::Map(m) => m,
                    Out::Val(Val::Map(m)) => m.to_vec(),
                    _ => return,
                };
                if let Some(kvs) = self.map_field(path.field, true) {
                    *kvs = map;
                }
            }
            Field::Body => {
                if let Target::Log { log, .. } = self {
                    match log.body.as_mut() {
                        Some(body) => assign_any(body, value),
                        None => log.body = value.into_any(),
                    }
                }
            }
            Field::Kind => {
                if let (Target::Span { span, .. }, Some(kind)) = (self, int.and_then(|i| i32::try_from(i).ok())) {
                    span.kind = kind;
                }
            }
            Field::StatusCode => {
                if let (Target::Span { span, .. }, Some(code)) = (self, int.and_then(|i| i32::try_from(i).ok())) {
                    span.status.get_or_insert_with(Default::default).code = code;
                }
            }
            Field::SeverityNumber => {
                if let (Target::Log { log, .. }, Some(n)) = (self, int.and_then(|i| i32::try_from(i).ok())) {
                    log.severity_number = n;
                }
            }
            Field::StartTime | Field::EndTime | Field::Time | Field::ObservedTime => {
                if let Some(nanos) = int.and_then(|i| u64::try_from(i).ok()) {
                    if let Some(t) = self.time_field(path.field) {
                        *t = nanos;
                    }
                }
            }
            Field::ValueDouble | Field::ValueInt => {
                let number = match (path.field, value.val()) {
                    (Field::ValueDouble, Val::Float(f)) => number_data_point::Value::AsDouble(f),
                    (Field::ValueInt, Val::Int(i)) => number_data_point::Value::AsInt(i),
                    _ => return,
                };
                if let Target::DataPoint {
                    point: DataPointMut::Number(p),
                    ..
                } = self
                {
                    p.value = Some(number);
                }
            }
            field => {
                if let Some(s) = self.str_field(field, true) {
                    match value {
                        Out::Str(new) => *s = new,
                        Out::Val(Val::Str(new)) => {
                            // Reuses the field's buffer: no allocation when it fits.
                            s.clear();
                            s.push_str(new);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn time_field(&mut self, field: Field) -> Option<&mut u64> {
        Some(match (self, field) {
            (Target::Span { span, .. }, Field::StartTime) => &mut span.start_time_unix_nano,
            (Target::Span { span, .. }, Field::EndTime) => &mut span.end_time_unix_nano,
            (Target::SpanEvent { event, .. }, Field::Time) => &mut event.time_unix_nano,
            (Target::Log { log, .. }, Field::Time) => &mut log.time_unix_nano,
            (Target::Log { log, .. }, Field::ObservedTime) => &mut log.observed_time_unix_nano,
            (Target::DataPoint { point, .. }, Field::Time | Field::StartTime) => {
                let (start, time) = match point {
                    DataPointMut::Number(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
                    DataPointMut::Histogram(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
                    DataPointMut::ExponentialHistogram(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
                    DataPointMut::Summary(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
                };
                if field == Field::Time {
                    time
                } else {
                    start
                }
            }
            _ => return None,
        })
    }
}

/// Something a path points at, to change in place.
enum Slot<'a> {
    Map(&'a mut Vec<KeyValue>),
    Str(&'a mut String),
    Value(&'a mut AnyValue),
}

impl<'a> Slot<'a> {
    fn into_map(self) -> Option<&'a mut Vec<KeyValue>> {
        match self {
            Slot::Map(m) => Some(m),
            Slot::Value(v) => match &mut v.value {
                Some(any_value::Value::KvlistValue(m)) => Some(&mut m.values),
                _ => None,
            },
            Slot::Str(_) => None,
        }
    }

    fn into_str(self) -> Option<&'a mut String> {
        match self {
            Slot::Str(s) => Some(s),
            Slot::Value(v) => match &mut v.value {
                Some(any_value::Value::StringValue(s)) => Some(s),
                _ => None,
            },
            Slot::Map(_) => None,
        }
    }
}

/// Follows `[key]` lookups from `slot`.
fn descend<'a>(mut slot: Slot<'a>, keys: &[Key]) -> Option<Slot<'a>> {
    for key in keys {
        let next: &'a mut AnyValue = match (slot, key) {
            (Slot::Map(kvs), Key::Str(k)) => kvs.iter_mut().find(|kv| kv.key == **k)?.value.as_mut()?,
            (Slot::Value(v), _) => match (&mut v.value, key) {
                (Some(any_value::Value::KvlistValue(m)), Key::Str(k)) => {
                    m.values.iter_mut().find(|kv| kv.key == **k)?.value.as_mut()?
                }
                (Some(any_value::Value::ArrayValue(a)), Key::Int(i)) => a.values.get_mut(usize::try_from(*i).ok()?)?,
                _ => return None,
            },
            _ => return None,
        };
        slot = Slot::Value(next);
    }
    Some(slot)
}

/// Sets `value` at `keys` below `target`, creating maps on the way.
fn set_in_value(target: &mut AnyValue, keys: &[Key], value: Out<'_>) {
    let Some((key, rest)) = keys.split_first() else {
        assign_any(target, value);
        return;
    };
    match key {
        Key::Str(k) => {
            if !matches!(target.value, Some(any_value::Value::KvlistValue(_))) {
                target.value = Some(any_value::Value::KvlistValue(KeyValueList::default()));
            }
            if let Some(any_value::Value::KvlistValue(m)) = &mut target.value {
                set_in_map(&mut m.values, k, rest, value);
            }
        }
        Key::Int(i) => {
            if let Some(any_value::Value::ArrayValue(a)) = &mut target.value {
                if let Some(item) = usize::try_from(*i).ok().and_then(|i| a.values.get_mut(i)) {
                    set_in_value(item, rest, value);
                }
            }
        }
    }
}

fn set_in_map(kvs: &mut Vec<KeyValue>, key: &str, rest: &[Key], value: Out<'_>) {
    let index = match kvs.iter().position(|kv| kv.key == key) {
        Some(i) => i,
        None => {
            kvs.push(KeyValue {
                key: key.to_owned(),
                value: None,
                ..Default::default()
            });
            kvs.len() - 1
        }
    };
    let slot = kvs[index].value.get_or_insert_with(AnyValue::default);
    set_in_value(slot, rest, value);
}

/// Replaces `target` with `value`, reusing its string buffer where it can.
fn assign_any(target: &mut AnyValue, value: Out<'_>) {
    if let (Some(any_value::Value::StringValue(s)), Out::Val(Val::Str(new))) = (&mut target.value, &value) {
        s.clear();
        s.push_str(new);
        return;
    }
    if let Some(new) = value.into_any() {
        *target = new;
    }
}

/// Truncates `s` to at most `limit` bytes, at a character boundary.
fn truncate(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut end = limit;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Flattens nested maps and lists into `out`, keys joined with `.`.
fn flatten_into(out: &mut Vec<KeyValue>, key: String, value: Option<AnyValue>, depth: usize) {
    match value.and_then(|v| v.value) {
        Some(any_value::Value::KvlistValue(m)) if depth > 0 => {
            for kv in m.values {
                flatten_into(out, format!("{key}.{}", kv.key), kv.value, depth - 1);
            }
        }
        Some(any_value::Value::ArrayValue(a)) if depth > 0 => {
            for (i, v) in a.values.into_iter().enumerate() {
                flatten_into(out, format!("{key}.{i}"), Some(v), depth - 1);
            }
        }
        other => out.push(KeyValue {
            key,
            value: Some(AnyValue { value: other }),
            ..Default::default()
        }),
    }
}

impl Statement {
    /// Runs the statement against `target` when its `where` clause holds. A target of
    /// another context is left alone.
    pub fn execute(&self, target: &mut Target<'_>) -> Result<(), ExecError> {
        if target.context() != self.context {
            return Ok(());
        }
        if let Some(condition) = &self.condition {
            if !condition.eval(target.subject()) {
                return Ok(());
            }
        }
        self.apply(target)
    }

    fn apply(&self, target: &mut Target<'_>) -> Result<(), ExecError> {
        /// The map a map editor works on; a path to something else is an error.
        fn map<'t>(target: &'t mut Target<'_>, path: &Path) -> Result<Option<&'t mut Vec<KeyValue>>, ExecError> {
            match target.slot(path) {
                None => Ok(None),
                Some(slot) => slot
                    .into_map()
                    .map(Some)
                    .ok_or_else(|| ExecError::new("the target must be a map")),
            }
        }
        /// A replacement string: borrowed from the statement when it is a literal,
        /// otherwise computed before the telemetry is changed.
        fn replacement<'s>(
            getter: &'s super::statement::Getter,
            target: &Target<'_>,
        ) -> Result<std::borrow::Cow<'s, str>, ExecError> {
            if let Some(Val::Str(s)) = getter.literal() {
                return Ok(std::borrow::Cow::Borrowed(s));
            }
            match getter.eval(target.subject())?.val() {
                Val::Str(s) => Ok(std::borrow::Cow::Owned(s.to_owned())),
                other => Err(ExecError::new(format!(
                    "the replacement must be a string, found {}",
                    super::converters::type_name(other)
                ))),
            }
        }

        match &self.editor {
            Editor::Set(path, getter) => {
                let value = match getter.literal() {
                    Some(v) => Out::Val(v),
                    None => getter.eval(target.subject())?.into_owned(),
                };
                // As in the Collector: nothing is set to nil.
                if value.val() != Val::Nil {
                    target.set(path, value);
                }
            }
            Editor::DeleteKey(path, key) => {
                if let Some(kvs) = map(target, path)? {
                    kvs.retain(|kv| kv.key != **key);
                }
            }
            Editor::DeleteMatchingKeys(path, regex) => {
                if let Some(kvs) = map(target, path)? {
                    kvs.retain(|kv| !regex.is_match(&kv.key));
                }
            }
            Editor::KeepKeys(path, keys) => {
                if let Some(kvs) = map(target, path)? {
                    kvs.retain(|kv| listed(keys, &kv.key));
                }
            }
            Editor::KeepMatchingKeys(path, regex) => {
                if let Some(kvs) = map(target, path)? {
                    kvs.retain(|kv| regex.is_match(&kv.key));
                }
            }
            Editor::Limit(path, limit, priority) => {
                if let Some(kvs) = map(target, path)? {
                    if kvs.len() > *limit {
                        let kept_priority = kvs.iter().filter(|kv| listed(priority, &kv.key)).count();
                        let mut others = limit.saturating_sub(kept_priority);
                        kvs.retain(|kv| {
                            if listed(priority, &kv.key) {
                                return true;
                            }
                            let keep = others > 0;
                            others = others.saturating_sub(1);
                            keep
                        });
                    }
                }
            }
            Editor::TruncateAll(path, limit) => {
                if let Some(kvs) = map(target, path)? {
                    for kv in kvs.iter_mut() {
                        if let Some(AnyValue {
                            value: Some(any_value::Value::StringValue(s)),
                        }) = &mut kv.value
                        {
                            truncate(s, *limit);
                        }
                    }
                }
            }
            Editor::ReplacePattern(path, regex, getter) => {
                let replacement = replacement(getter, target)?;
                if let Some(s) = target.slot(path).and_then(Slot::into_str) {
                    if let std::borrow::Cow::Owned(new) = regex.replace_all(s, &*replacement) {
                        *s = new;
                    }
                }
            }
            Editor::ReplaceAllPatterns(path, mode, regex, getter) => {
                let replacement = replacement(getter, target)?;
                if let Some(kvs) = map(target, path)? {
                    for kv in kvs.iter_mut() {
                        let s = match mode {
                            Mode::Key => &mut kv.key,
                            Mode::Value => match &mut kv.value {
                                Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(s)),
                                }) => s,
                                _ => continue,
                            },
                        };
                        if let std::borrow::Cow::Owned(new) = regex.replace_all(s, &*replacement) {
                            *s = new;
                        }
                    }
                }
            }
            Editor::ReplaceMatch(path, glob, getter) => {
                let replacement = replacement(getter, target)?;
                if let Some(s) = target.slot(path).and_then(Slot::into_str) {
                    if glob.is_match(s) {
                        s.clear();
                        s.push_str(&replacement);
                    }
                }
            }
            Editor::ReplaceAllMatches(path, glob, getter) => {
                let replacement = replacement(getter, target)?;
                if let Some(kvs) = map(target, path)? {
                    for kv in kvs.iter_mut() {
                        if let Some(AnyValue {
                            value: Some(any_value::Value::StringValue(s)),
                        }) = &mut kv.value
                        {
                            if glob.is_match(s) {
                                s.clear();
                                s.push_str(&replacement);
                            }
                        }
                    }
                }
            }
            Editor::MergeMaps(path, source, strategy) => {
                let source = match source.eval(target.subject())?.into_owned() {
                    Out::Map(m) => m,
                    Out::Val(Val::Nil) => return Ok(()),
                    other => {
                        return Err(ExecError::new(format!(
                            "the source of merge_maps must be a map, found {}",
                            super::converters::type_name(other.val())
                        )))
                    }
                };
                let kvs = match path.keys.is_empty() {
                    true => target.map_field(path.field, true),
                    false => map(target, path)?,
                };
                if let Some(kvs) = kvs {
                    for kv in source {
                        match (kvs.iter_mut().find(|t| t.key == kv.key), strategy) {
                            (Some(existing), Strategy::Update | Strategy::Upsert) => existing.value = kv.value,
                            (None, Strategy::Insert | Strategy::Upsert) => kvs.push(kv),
                            _ => {}
                        }
                    }
                }
            }
            Editor::Flatten(path, prefix, depth) => {
                if let Some(kvs) = map(target, path)? {
                    let depth = depth.unwrap_or(usize::MAX);
                    for kv in std::mem::take(kvs) {
                        let key = match prefix {
                            Some(p) => format!("{p}.{}", kv.key),
                            None => kv.key,
                        };
                        flatten_into(kvs, key, kv.value, depth);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Condition {
    /// Evaluates the condition against a [`Target`]; false when it was parsed for
    /// another context.
    pub fn eval_target(&self, target: &Target<'_>) -> bool {
        self.context == target.context() && self.root.eval(target.subject())
    }
}
