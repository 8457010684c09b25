use super::*;
use crate::amf::{amf0, amf3, Amf3Kind, Span};

fn amf3_ref(index: u32) -> Value {
    Value::Amf3Ref {
        kind: Amf3Kind::Array,
        index,
    }
}

/// Counts the nodes of a tree.
fn size(node: &Node) -> usize {
    1 + node.value.children().into_iter().map(size).sum::<usize>()
}

#[test]
fn amf0_reference_expands_to_the_earlier_object() {
    let mut buf = Vec::new();
    let values = [
        Value::object([("app", Value::string("live"))]),
        Value::Reference(0),
    ];
    amf0::encode_all(&values, &mut buf).unwrap();
    let (nodes, err) = amf0::decode_all(&buf);
    assert_eq!(err, None);
    let r = Resolver::amf0(&nodes);
    let resolved = r.resolve(&nodes[1], 100);
    assert!(resolved.complete);
    assert_eq!(resolved.node.value, values[0]);
    // An expanded reference points at the bytes of what it refers to.
    assert_eq!(resolved.node.span, nodes[0].span);
}

#[test]
fn amf3_tables_follow_wire_order_with_containers_first() {
    // [[], ByteArray] then a reference to each: the outer array is 0.
    let v = Value::amf3_array([Value::amf3_array([]), Value::ByteArray(vec![1])]);
    let mut buf = Vec::new();
    amf3::encode_all([&v, &amf3_ref(1), &amf3_ref(2)], &mut buf).unwrap();
    let (nodes, err) = amf3::decode_all(&buf);
    assert_eq!(err, None);
    let r = Resolver::amf3(&nodes);
    assert_eq!(r.amf3_target(0).unwrap().span, nodes[0].span);
    assert_eq!(r.amf3_target(1).unwrap().value, Value::amf3_array([]));
    assert_eq!(r.amf3_target(2).unwrap().value, Value::ByteArray(vec![1]));
    assert!(r.amf3_target(3).is_none());
    assert_eq!(
        r.resolve(&nodes[2], 10).node.value,
        Value::ByteArray(vec![1])
    );
}

#[test]
fn amf0_date_and_xml_do_not_enter_the_amf3_table_outside_avmplus() {
    let nodes = [
        Node::new(Value::Date {
            millis: 0.0,
            tz_minutes: 0,
        }),
        Node::new(Value::Avmplus(Box::new(Node::new(Value::Date {
            millis: 1.0,
            tz_minutes: 0,
        })))),
    ];
    let r = Resolver::amf0(&nodes);
    let target = r.amf3_target(0).unwrap();
    assert_eq!(
        target.value,
        Value::Date {
            millis: 1.0,
            tz_minutes: 0
        }
    );
    assert!(r.amf0_target(0).is_none());
}

#[test]
fn self_reference_stays_a_reference() {
    let v = Value::amf3_array([Value::Integer(1), amf3_ref(0)]);
    let mut buf = Vec::new();
    amf3::encode(&v, &mut buf).unwrap();
    let (nodes, _) = amf3::decode_all(&buf);
    let r = Resolver::amf3(&nodes);
    let resolved = r.resolve(&nodes[0], 1_000_000);
    assert!(!resolved.complete);
    assert_eq!(resolved.node.value, v);
}

#[test]
fn doubling_chain_stays_within_the_budget() {
    // Array n holds two references to array n-1: fully expanded, the last
    // one would have 2^40 nodes.
    let mut values = vec![Value::amf3_array([Value::Null])];
    for i in 0..40 {
        values.push(Value::amf3_array([amf3_ref(i), amf3_ref(i)]));
    }
    let mut buf = Vec::new();
    amf3::encode_all(&values, &mut buf).unwrap();
    let (nodes, err) = amf3::decode_all(&buf);
    assert_eq!(err, None);
    let r = Resolver::amf3(&nodes);
    let budget = 10_000;
    let resolved = r.resolve(nodes.last().unwrap(), budget);
    assert!(!resolved.complete);
    assert!(size(&resolved.node) <= size(nodes.last().unwrap()) + budget);
}

#[test]
fn shared_subtree_within_the_budget_expands_completely() {
    let mut values = vec![Value::amf3_array([Value::Null])];
    for i in 0..4 {
        values.push(Value::amf3_array([amf3_ref(i), amf3_ref(i)]));
    }
    let mut buf = Vec::new();
    amf3::encode_all(&values, &mut buf).unwrap();
    let (nodes, _) = amf3::decode_all(&buf);
    let r = Resolver::amf3(&nodes);
    let resolved = r.resolve(nodes.last().unwrap(), 1_000);
    assert!(resolved.complete);
    // 2^4 leaves of [null] under a full binary tree of arrays.
    assert_eq!(size(&resolved.node), 15 + 16 * 2);
}

#[test]
fn unknown_index_stays_a_reference() {
    let node = Node {
        span: Span::new(0, 3),
        value: Value::Reference(9),
    };
    let r = Resolver::amf0(&[]);
    let resolved = r.resolve(&node, 10);
    assert!(!resolved.complete);
    assert_eq!(resolved.node.value, Value::Reference(9));
}

#[test]
fn values_without_references_are_copied_unchanged() {
    let node = Node::new(Value::object([("a", Value::strict_array([Value::Null]))]));
    let r = Resolver::amf0(std::slice::from_ref(&node));
    let resolved = r.resolve(&node, 0);
    assert!(resolved.complete);
    assert_eq!(resolved.node, node);
}
