//! Expanding object references against the values of one message, within a budget.

use super::{Amf3Object, Node, Property, Value};

/// Deepest level at which a reference is still expanded; deeper ones stay references.
const RESOLVE_DEPTH: usize = 128;

/// Deepest level searched for referenceable values when building the tables.
const COLLECT_DEPTH: usize = 256;

/// The referenceable values of one message, in reference-table order.
///
/// Built from the values of one `decode_all` call, it answers which value a
/// [`Value::Reference`] or [`Value::Amf3Ref`] points at, and makes copies
/// with references expanded. Expansion copies at most a budget of nodes and
/// never follows a cycle, so a message built to double in size at every
/// reference stays cheap.
#[derive(Debug, Clone)]
pub struct Resolver<'a> {
    amf0: Vec<&'a Node>,
    amf3: Vec<&'a Node>,
}

/// A copy of a node with references expanded, from [`Resolver::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The copy; expanded references take the span of the value they point at.
    pub node: Node,
    /// False if a reference stayed a reference: a cycle, an unknown index, or the budget ran out.
    pub complete: bool,
}

impl<'a> Resolver<'a> {
    /// Tables for the values of one AMF0 message ([`amf0::decode_all`](super::amf0::decode_all)).
    pub fn amf0(values: &'a [Node]) -> Self {
        let mut r = Resolver {
            amf0: Vec::new(),
            amf3: Vec::new(),
        };
        for v in values {
            r.collect(v, false, 0);
        }
        r
    }

    /// Tables for the values of one AMF3 buffer ([`amf3::decode_all`](super::amf3::decode_all)).
    pub fn amf3(values: &'a [Node]) -> Self {
        let mut r = Resolver {
            amf0: Vec::new(),
            amf3: Vec::new(),
        };
        for v in values {
            r.collect(v, true, 0);
        }
        r
    }

    /// The AMF0 object, ECMA array or strict array a [`Value::Reference`] points at.
    pub fn amf0_target(&self, index: u16) -> Option<&'a Node> {
        self.amf0.get(usize::from(index)).copied()
    }

    /// The AMF3 complex value a [`Value::Amf3Ref`] points at.
    pub fn amf3_target(&self, index: u32) -> Option<&'a Node> {
        self.amf3.get(index as usize).copied()
    }

    /// A copy of `node` with references expanded, spending at most `budget` copied nodes on them.
    pub fn resolve(&self, node: &Node, budget: usize) -> Resolved {
        let mut walk = Walk {
            resolver: self,
            budget,
            complete: true,
            ancestors: Vec::new(),
        };
        let node = walk.expand(node, 0);
        Resolved {
            node,
            complete: walk.complete,
        }
    }

    /// Adds referenceable values in the order the decoders number them: a
    /// value enters its table before its members (AMF0 spec 2.9, AMF3 spec 2.2).
    fn collect(&mut self, node: &'a Node, in_amf3: bool, depth: usize) {
        if depth > COLLECT_DEPTH {
            return;
        }
        let v = &node.value;
        if in_amf3 {
            if matches!(
                v,
                Value::XmlDocument(_)
                    | Value::Date { .. }
                    | Value::Amf3Array { .. }
                    | Value::Amf3Object(_)
                    | Value::Xml(_)
                    | Value::ByteArray(_)
                    | Value::VectorInt { .. }
                    | Value::VectorUint { .. }
                    | Value::VectorDouble { .. }
                    | Value::VectorObject { .. }
                    | Value::Dictionary { .. }
            ) {
                self.amf3.push(node);
            }
        } else if matches!(
            v,
            Value::Object { .. } | Value::EcmaArray { .. } | Value::StrictArray(_)
        ) {
            self.amf0.push(node);
        }
        let children_amf3 = in_amf3 || matches!(v, Value::Avmplus(_));
        for child in v.children() {
            self.collect(child, children_amf3, depth + 1);
        }
    }
}

struct Walk<'r, 'a> {
    resolver: &'r Resolver<'a>,
    budget: usize,
    complete: bool,
    /// The nodes being copied, outermost first: a reference to one of them is a cycle.
    ancestors: Vec<*const Node>,
}

impl Walk<'_, '_> {
    fn expand(&mut self, node: &Node, depth: usize) -> Node {
        let target = match node.value {
            Value::Reference(i) => Some(self.resolver.amf0_target(i)),
            Value::Amf3Ref { index, .. } => Some(self.resolver.amf3_target(index)),
            _ => None,
        };
        match target {
            None => {
                self.ancestors.push(node);
                let value = map_children(&node.value, &mut |child| self.expand(child, depth + 1));
                self.ancestors.pop();
                Node {
                    span: node.span,
                    value,
                }
            }
            Some(Some(t))
                if depth < RESOLVE_DEPTH && !self.ancestors.iter().any(|&a| std::ptr::eq(a, t)) =>
            {
                let cost = count_nodes(t, self.budget.saturating_add(1));
                if cost > self.budget {
                    self.complete = false;
                    return node.clone();
                }
                self.budget -= cost;
                self.expand(t, depth)
            }
            Some(_) => {
                self.complete = false;
                node.clone()
            }
        }
    }
}

/// The number of nodes in `node`'s tree, counting no further than `limit + 1`.
fn count_nodes(node: &Node, limit: usize) -> usize {
    let mut count = 0;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        if count > limit {
            break;
        }
        stack.extend(n.value.children());
    }
    count
}

/// A copy of `v` whose child nodes are replaced by `f` of each.
fn map_children(v: &Value, f: &mut dyn FnMut(&Node) -> Node) -> Value {
    match v {
        Value::Object { class, props } => Value::Object {
            class: class.clone(),
            props: map_props(props, f),
        },
        Value::EcmaArray { count_hint, props } => Value::EcmaArray {
            count_hint: *count_hint,
            props: map_props(props, f),
        },
        Value::StrictArray(items) => Value::StrictArray(items.iter().map(&mut *f).collect()),
        Value::Avmplus(inner) => Value::Avmplus(Box::new(f(inner))),
        Value::Amf3Array { assoc, dense } => Value::Amf3Array {
            assoc: map_props(assoc, f),
            dense: dense.iter().map(&mut *f).collect(),
        },
        Value::Amf3Object(o) => Value::Amf3Object(Box::new(Amf3Object {
            class: o.class.clone(),
            sealed: map_props(&o.sealed, f),
            dynamic: o.dynamic.as_ref().map(|d| map_props(d, f)),
            externalizable: o.externalizable.as_ref().map(|n| Box::new(f(n))),
        })),
        Value::VectorObject {
            fixed,
            type_name,
            items,
        } => Value::VectorObject {
            fixed: *fixed,
            type_name: type_name.clone(),
            items: items.iter().map(&mut *f).collect(),
        },
        Value::Dictionary { weak_keys, entries } => Value::Dictionary {
            weak_keys: *weak_keys,
            entries: entries.iter().map(|(k, v)| (f(k), f(v))).collect(),
        },
        other => other.clone(),
    }
}

fn map_props(props: &[Property], f: &mut dyn FnMut(&Node) -> Node) -> Vec<Property> {
    props
        .iter()
        .map(|p| Property {
            key: p.key.clone(),
            key_span: p.key_span,
            value: f(&p.value),
        })
        .collect()
}

#[cfg(test)]
mod tests;
