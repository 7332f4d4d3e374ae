//! The pipelines as one graph. Nodes are pipelines (each with its processors) and
//! connector instances; edges are what sends into what: a pipeline into the
//! connectors it lists under `exporters`, a connector into the pipelines that list
//! it under `receivers`, and a processor into another pipeline (the slo processor's
//! `metrics_pipeline`). Receivers and exporters hang off the pipelines and need no
//! ordering among themselves.
//!
//! The order is topological, upstream first: the graph builds and starts in reverse
//! (everything exists and runs before anything sends into it) and stops in order
//! (every stage drains into something still alive), whatever the pipelines are
//! called. A cycle is refused when the config is compiled, spelled out.

use std::collections::{BTreeMap, BTreeSet};

use super::{ComponentId, ConfigError, ConnectorConfig, Pipeline, Section, Signal};

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// A pipeline, by name: its processors in order, ending in its exporters.
    Pipeline(String),
    /// One instance of a connector: one per pair of signals it joins, as in the
    /// Collector.
    Connector {
        /// The connector's id.
        id: ComponentId,
        /// The signal it takes.
        from: Signal,
        /// The signal it emits.
        to: Signal,
    },
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Pipeline(name) => write!(f, "pipeline {name}"),
            Node::Connector { id, from, to } => write!(f, "connector {id} ({from} to {to})"),
        }
    }
}

/// One edge: `from` sends into `to`, because of the config at `via`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The sender.
    pub from: Node,
    /// The receiver.
    pub to: Node,
    /// The config that makes the edge (`service.pipelines.traces.exporters`,
    /// `processors.slo.metrics_pipeline`).
    pub via: String,
}

/// The checked graph.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every node, upstream first: a node comes before every node it sends into.
    pub order: Vec<Node>,
    /// Every edge.
    pub edges: Vec<Edge>,
}

impl Plan {
    /// The graph of `pipelines`, with `metrics_edges` (processor id, pipeline it
    /// sends into) and connectors joining signals as `supports` says. `Err` spells
    /// out a cycle.
    pub fn new(
        pipelines: &[Pipeline],
        metrics_edges: &[(ComponentId, String)],
        supports: &dyn Fn(&ComponentId, Signal, Signal) -> bool,
    ) -> Result<Plan, String> {
        let mut nodes: BTreeSet<Node> = pipelines.iter().map(|p| Node::Pipeline(p.name.clone())).collect();
        let mut edges = Vec::new();
        for from in pipelines {
            for id in &from.to_connectors {
                for to in pipelines.iter().filter(|q| q.from_connectors.contains(id)) {
                    if !supports(id, from.signal, to.signal) {
                        continue;
                    }
                    let connector = Node::Connector {
                        id: id.clone(),
                        from: from.signal,
                        to: to.signal,
                    };
                    nodes.insert(connector.clone());
                    let sends = Edge {
                        from: Node::Pipeline(from.name.clone()),
                        to: connector.clone(),
                        via: format!("service.pipelines.{}.exporters", from.name),
                    };
                    if !edges.contains(&sends) {
                        edges.push(sends);
                    }
                    edges.push(Edge {
                        from: connector,
                        to: Node::Pipeline(to.name.clone()),
                        via: format!("service.pipelines.{}.receivers", to.name),
                    });
                }
            }
            for (processor, target) in metrics_edges {
                if from.processors.contains(processor) {
                    edges.push(Edge {
                        from: Node::Pipeline(from.name.clone()),
                        to: Node::Pipeline(target.clone()),
                        via: format!("processors.{processor}.metrics_pipeline"),
                    });
                }
            }
        }
        let order = topological(&nodes, &edges)?;
        Ok(Plan { order, edges })
    }

    /// The nodes `node` sends into.
    pub fn downstream<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = &'a Node> + 'a {
        self.edges.iter().filter(move |e| &e.from == node).map(|e| &e.to)
    }
}

/// Kahn's algorithm, smallest ready node first so the order is stable; the nodes
/// left over lie on or behind a cycle, which is then found and spelled out.
fn topological(nodes: &BTreeSet<Node>, edges: &[Edge]) -> Result<Vec<Node>, String> {
    let mut incoming: BTreeMap<&Node, usize> = nodes.iter().map(|n| (n, 0)).collect();
    for edge in edges {
        *incoming.entry(&edge.to).or_default() += 1;
    }
    let mut ready: BTreeSet<&Node> = incoming.iter().filter(|(_, n)| **n == 0).map(|(k, _)| *k).collect();
    let mut order = Vec::new();
    while let Some(node) = ready.pop_first() {
        order.push(node.clone());
        for edge in edges.iter().filter(|e| &e.from == node) {
            let count = incoming.entry(&edge.to).or_default();
            *count -= 1;
            if *count == 0 {
                ready.insert(&edge.to);
            }
        }
    }
    if order.len() == incoming.len() {
        return Ok(order);
    }
    let left: BTreeSet<&Node> = incoming.keys().copied().filter(|n| !order.contains(n)).collect();
    Err(spell_cycle(&left, edges))
}

/// A cycle among `left` (every node there has an edge in from another node there,
/// so walking edges backwards from any of them must come round), as
/// `pipeline a → connector f (traces to traces) → pipeline b → pipeline a`.
fn spell_cycle(left: &BTreeSet<&Node>, edges: &[Edge]) -> String {
    let Some(start) = left.first() else {
        return String::new();
    };
    let mut path: Vec<&Node> = vec![start];
    loop {
        let current = *path.last().unwrap_or(start);
        let Some(previous) = edges
            .iter()
            .find(|e| &e.to == current && left.contains(&e.from))
            .map(|e| &e.from)
        else {
            return path.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ← ");
        };
        if let Some(at) = path.iter().position(|n| *n == previous) {
            let mut cycle: Vec<&Node> = path[at..].to_vec();
            cycle.reverse();
            // Read from the first pipeline, by name, whichever node the walk began at.
            let first = (0..cycle.len())
                .filter(|i| matches!(cycle[*i], Node::Pipeline(_)))
                .min_by_key(|i| cycle[*i])
                .unwrap_or(0);
            cycle.rotate_left(first);
            cycle.push(cycle[0]);
            return cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → ");
        }
        path.push(previous);
    }
}

/// Checks connectors against the pipelines: each one used as an exporter must feed
/// some pipeline that lists it as a receiver with a signal it can make, and the other
/// way round; the pipelines its own config names (`routing`'s table) must list it
/// as a receiver.
pub(super) fn check_connectors(
    pipelines: &[Pipeline],
    connectors: &Section<dyn ConnectorConfig>,
    errors: &mut Vec<ConfigError>,
) {
    for (id, (_, config)) in connectors {
        let Some(config) = config else { continue };
        let path = format!("connectors.{id}");
        let exporting: Vec<&Pipeline> = pipelines.iter().filter(|p| p.to_connectors.contains(id)).collect();
        let receiving: Vec<&Pipeline> = pipelines.iter().filter(|p| p.from_connectors.contains(id)).collect();
        for from in &exporting {
            if !receiving.iter().any(|to| config.supports(from.signal, to.signal)) {
                errors.push(ConfigError::new(
                    &path,
                    format!(
                        "pipeline {} sends {} into it, but no pipeline that lists it under receivers carries a signal it makes from {}",
                        from.name, from.signal, from.signal
                    ),
                ));
            }
        }
        for to in &receiving {
            if !exporting.iter().any(|from| config.supports(from.signal, to.signal)) {
                errors.push(ConfigError::new(
                    &path,
                    format!(
                        "pipeline {} lists it under receivers, but no pipeline that lists it under exporters sends a signal it makes {} from",
                        to.name, to.signal
                    ),
                ));
            }
        }
        for (at, name) in config.pipelines() {
            if !receiving.iter().any(|p| p.name == name) {
                let why = if pipelines.iter().any(|p| p.name == name) {
                    format!("pipeline {name:?} does not list {id} under receivers")
                } else {
                    format!("pipeline {name:?} is not defined under service.pipelines")
                };
                errors.push(ConfigError::new(format!("{path}.{at}"), why));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(name: &str, from: &[&str], processors: &[&str], to: &[&str]) -> Pipeline {
        let ids = |names: &[&str]| names.iter().map(|n| ComponentId::parse(n).unwrap()).collect();
        Pipeline {
            name: name.into(),
            signal: Signal::parse(name.split('/').next().unwrap()).unwrap(),
            receivers: Vec::new(),
            from_connectors: ids(from),
            processors: ids(processors),
            exporters: Vec::new(),
            to_connectors: ids(to),
        }
    }

    fn any(_: &ComponentId, from: Signal, to: Signal) -> bool {
        from == to || (from == Signal::Traces && to == Signal::Metrics)
    }

    #[test]
    fn upstream_comes_first_whatever_the_names() {
        // `metrics` sorts before `traces`, but the slo processor in traces sends into it.
        let pipelines = [
            pipeline("metrics", &[], &[], &[]),
            pipeline("traces", &[], &["slo"], &[]),
        ];
        let plan = Plan::new(
            &pipelines,
            &[(ComponentId::parse("slo").unwrap(), "metrics".into())],
            &any,
        )
        .unwrap();
        assert_eq!(
            plan.order,
            [Node::Pipeline("traces".into()), Node::Pipeline("metrics".into())]
        );
        assert_eq!(plan.edges[0].via, "processors.slo.metrics_pipeline");
    }

    #[test]
    fn a_connector_sits_between_the_pipelines_it_joins() {
        let pipelines = [
            pipeline("traces/a", &["routing"], &[], &[]),
            pipeline("traces/in", &[], &[], &["routing"]),
            pipeline("metrics", &["spanmetrics"], &[], &[]),
            pipeline("traces/b", &["routing"], &[], &["spanmetrics"]),
        ];
        let plan = Plan::new(&pipelines, &[], &any).unwrap();
        let position = |node: &Node| plan.order.iter().position(|n| n == node).unwrap();
        let routing = Node::Connector {
            id: ComponentId::parse("routing").unwrap(),
            from: Signal::Traces,
            to: Signal::Traces,
        };
        assert!(position(&Node::Pipeline("traces/in".into())) < position(&routing));
        assert!(position(&routing) < position(&Node::Pipeline("traces/a".into())));
        assert!(position(&routing) < position(&Node::Pipeline("traces/b".into())));
        assert!(position(&Node::Pipeline("traces/b".into())) < position(&Node::Pipeline("metrics".into())));
    }

    #[test]
    fn a_cycle_is_spelled_out() {
        let pipelines = [
            pipeline("traces/a", &["forward/back"], &[], &["forward"]),
            pipeline("traces/b", &["forward"], &[], &["forward/back"]),
            pipeline("traces/in", &[], &[], &["forward"]),
        ];
        let cycle = Plan::new(&pipelines, &[], &any).unwrap_err();
        assert_eq!(
            cycle,
            "pipeline traces/a → connector forward (traces to traces) → pipeline traces/b → connector forward/back (traces to traces) → pipeline traces/a"
        );
    }
}
