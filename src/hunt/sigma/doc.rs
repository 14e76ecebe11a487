//! A rule document as typed values: serde structs for the rule, its detection (selections in the
//! order written, each field's key read into its field and [`Modifier`]s) and its correlation,
//! deserialised from the YAML tree [`rule::bounded_yaml`](super::rule::bounded_yaml) loaded (so
//! alias bombs are refused before anything is built) through a small serde `Deserializer` over
//! that tree.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::*;

/// A YAML node read by serde. Mappings keep the order they were written in; a float is given as
/// the text it was written as (Sigma compares values as text: `1.50` is not `1.5`).
#[derive(Clone, Copy)]
pub(super) struct Node<'a>(pub(super) &'a Yaml);

impl<'de> Deserializer<'de> for Node<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Yaml::String(s) | Yaml::Real(s) => visitor.visit_str(s),
            Yaml::Integer(i) => visitor.visit_i64(*i),
            Yaml::Boolean(b) => visitor.visit_bool(*b),
            Yaml::Array(items) => visitor.visit_seq(SeqDeserializer::new(items.iter().map(Node))),
            Yaml::Hash(map) => visitor.visit_map(MapDeserializer::new(map.iter().map(|(k, v)| (Node(k), Node(v))))),
            Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Yaml::Null | Yaml::BadValue => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, de::value::Error> for Node<'a> {
    type Deserializer = Node<'a>;
    fn into_deserializer(self) -> Node<'a> {
        self
    }
}

/// A scalar as its text: a string, a number or a boolean as written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Scalar(pub(super) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<Scalar, E> {
                Ok(Scalar(i.to_string()))
            }
            fn visit_u64<E: de::Error>(self, i: u64) -> Result<Scalar, E> {
                Ok(Scalar(i.to_string()))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Scalar, E> {
                Ok(Scalar(x.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar(b.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them (`rules: a` or `rules: [a, b]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub(super) fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

fn texts(v: Option<OneOrMany<Scalar>>) -> Vec<String> {
    v.map(OneOrMany::into_vec).unwrap_or_default().into_iter().map(|s| s.0).collect()
}

/// A rule file's document, its header and correlation: the detection is read on its own
/// ([`Detection`]) once the log source is known to be CloudTrail. Keys Sigma defines but trailflow
/// does not use (`description`, `references`, `falsepositives`...) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RuleDoc {
    pub(super) id: Option<Scalar>,
    pub(super) name: Option<Scalar>,
    pub(super) title: Option<Scalar>,
    pub(super) level: Option<Scalar>,
    tags: Option<OneOrMany<Scalar>>,
    pub(super) action: Option<Scalar>,
    pub(super) logsource: LogSource,
    pub(super) correlation: Option<CorrelationDoc>,
    pub(super) generate: Option<bool>,
}

impl RuleDoc {
    /// A document read from its YAML node.
    pub(super) fn read(doc: &Yaml) -> Result<RuleDoc, NotCompiled> {
        RuleDoc::deserialize(Node(doc)).map_err(|e| not_compiled!("{e}"))
    }

    pub(super) fn tags(&self) -> Vec<String> {
        texts(self.tags.clone())
    }

    /// The id, title and level (`medium` when none is given).
    pub(super) fn header(&self) -> (String, String, String) {
        let text = |s: &Option<Scalar>| s.as_ref().map(|s| s.0.clone());
        (
            text(&self.id).unwrap_or_default(),
            text(&self.title).unwrap_or_default(),
            text(&self.level).unwrap_or_else(|| "medium".into()),
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct LogSource {
    pub(super) product: Option<Scalar>,
    pub(super) service: Option<Scalar>,
}

impl LogSource {
    /// Is it AWS CloudTrail?
    pub(super) fn is_cloudtrail(&self) -> bool {
        let is = |s: &Option<Scalar>, want: &str| s.as_ref().is_some_and(|s| s.0.eq_ignore_ascii_case(want));
        is(&self.product, "aws") && is(&self.service, "cloudtrail")
    }
}

/// A detection: its named selections in the order written, the condition, and the older
/// aggregation's `timeframe`.
#[derive(Debug, Default)]
pub(super) struct Detection {
    pub(super) selections: Vec<(String, Selection)>,
    /// Every condition given (Sigma allows a list; trailflow compiles one).
    pub(super) conditions: Vec<String>,
    pub(super) timeframe: Option<String>,
}

impl<'de> Deserialize<'de> for Detection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Detection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of selections and a condition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Detection, A::Error> {
                let mut out = Detection::default();
                while let Some(Scalar(key)) = map.next_key::<Scalar>()? {
                    match key.as_str() {
                        "condition" => out.conditions = texts(map.next_value()?),
                        "timeframe" => out.timeframe = map.next_value::<Option<Scalar>>()?.map(|s| s.0),
                        _ => {
                            let s =
                                map.next_value::<Selection>().map_err(|e| de::Error::custom(format!("{key}: {e}")))?;
                            out.selections.push((key, s));
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// A selection: a map of field conditions (all must hold), a list of such maps (any), or keywords.
#[derive(Debug, Clone)]
pub(super) enum Selection {
    AllOf(Vec<FieldMatch>),
    AnyOf(Vec<Vec<FieldMatch>>),
    Keywords(Vec<String>),
}

/// One field condition: `field|modifier|...: value(s)`; a value `None` is YAML's null.
#[derive(Debug, Clone)]
pub(super) struct FieldMatch {
    pub(super) field: String,
    pub(super) modifiers: Vec<Modifier>,
    pub(super) values: Vec<Option<String>>,
}

impl FieldMatch {
    fn read(key: &str, values: Values) -> Result<FieldMatch, NotCompiled> {
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or("").to_string();
        let mut modifiers: Vec<Modifier> = Vec::new();
        for m in parts {
            let op = modifiers.iter().rev().find_map(|m| match m {
                Modifier::Op(o) => Some(*o),
                _ => None,
            });
            modifiers.push(Modifier::parse(m, op)?);
        }
        Ok(FieldMatch { field, modifiers, values: values.0 })
    }
}

/// A field's value or list of values (null allowed, maps not).
struct Values(Vec<Option<String>>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Many(Vec<Option<Scalar>>),
            One(Option<Scalar>),
        }
        match Shape::deserialize(d).map_err(|_| de::Error::custom("a value that is neither text nor a number"))? {
            Shape::Many(v) => Ok(Values(v.into_iter().map(|s| s.map(|s| s.0)).collect())),
            Shape::One(v) => Ok(Values(vec![v.map(|s| s.0)])),
        }
    }
}

/// The field conditions of one map, in the order written.
struct FieldMap(Vec<FieldMatch>);

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of field conditions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Scalar>()? {
                    let values: Values = map.next_value()?;
                    out.push(FieldMatch::read(&key.0, values).map_err(|e| de::Error::custom(e.0))?);
                }
                Ok(FieldMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Selection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a selection: a map, a list of maps or a list of keywords")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Selection, A::Error> {
                let FieldMap(fields) = FieldMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if fields.is_empty() {
                    return Err(de::Error::custom("an empty selection"));
                }
                Ok(Selection::AllOf(fields))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Selection, A::Error> {
                let mut maps = Vec::new();
                let mut keywords = Vec::new();
                while let Some(item) = seq.next_element::<Item>()? {
                    match item {
                        Item::Map(FieldMap(m)) if m.is_empty() => return Err(de::Error::custom("an empty selection")),
                        Item::Map(FieldMap(m)) => maps.push(m),
                        Item::Keyword(k) => keywords.push(k.0),
                    }
                }
                match (maps.is_empty(), keywords.is_empty()) {
                    (false, true) => Ok(Selection::AnyOf(maps)),
                    (true, _) => Ok(Selection::Keywords(keywords)),
                    (false, false) => Err(de::Error::custom("a list of both maps and keywords")),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Selection, E> {
                Ok(Selection::Keywords(vec![s.to_string()]))
            }
        }
        d.deserialize_any(V)
    }
}

/// An item of a list selection: a map of field conditions or a keyword. Read by hand rather than
/// as an untagged enum, so that a map's own error (an unknown modifier) is the one said.
enum Item {
    Keyword(Scalar),
    Map(FieldMap),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of field conditions or a keyword")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
                FieldMap::deserialize(de::value::MapAccessDeserializer::new(map)).map(Item::Map)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Item, E> {
                Ok(Item::Keyword(Scalar(s.to_string())))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<Item, E> {
                Ok(Item::Keyword(Scalar(i.to_string())))
            }
            fn visit_u64<E: de::Error>(self, i: u64) -> Result<Item, E> {
                Ok(Item::Keyword(Scalar(i.to_string())))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Item, E> {
                Ok(Item::Keyword(Scalar(b.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A correlation rule's `correlation:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CorrelationDoc {
    #[serde(rename = "type")]
    pub(super) kind: Option<Scalar>,
    rules: Option<OneOrMany<Scalar>>,
    #[serde(rename = "group-by")]
    group_by: Option<OneOrMany<Scalar>>,
    pub(super) timespan: Option<Scalar>,
    pub(super) timeframe: Option<Scalar>,
    pub(super) condition: Option<CountConditionDoc>,
    pub(super) aliases: Option<de::IgnoredAny>,
    pub(super) generate: Option<bool>,
}

impl CorrelationDoc {
    pub(super) fn rules(&self) -> Vec<String> {
        texts(self.rules.clone())
    }
    pub(super) fn group_by(&self) -> Vec<String> {
        texts(self.group_by.clone())
    }
}

/// A correlation's condition as written: `gte: 10`, `field: x`, in order.
#[derive(Debug, Default)]
pub(super) struct CountConditionDoc(pub(super) Vec<(String, Scalar)>);

impl<'de> Deserialize<'de> for CountConditionDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CountConditionDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of gt/gte/lt/lte/eq")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CountConditionDoc, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(k)) = map.next_key::<Scalar>()? {
                    let v: Scalar = map
                        .next_value()
                        .map_err(|_| de::Error::custom(format!("condition: `{k}` is not a number or text")))?;
                    out.push((k, v));
                }
                Ok(CountConditionDoc(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(text: &str) -> Result<Detection, String> {
        let docs = YamlLoader::load_from_str(text).unwrap();
        Detection::deserialize(Node(&docs[0])).map_err(|e| e.to_string())
    }

    #[test]
    fn a_detection_is_read_typed_in_the_order_written() {
        let d = detection(
            "zeta:\n  eventName|startswith: Put\n  requestParameters.ratio: 1.50\nalpha:\n  - eventSource: s3\n  - \
             errorCode: null\nwords: [AssumeRoot, 42]\ncondition: zeta or alpha\ntimeframe: 5m\n",
        )
        .unwrap();
        let names: Vec<&str> = d.selections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "words"]);
        assert_eq!(d.conditions, ["zeta or alpha"]);
        assert_eq!(d.timeframe.as_deref(), Some("5m"));
        let Selection::AllOf(fields) = &d.selections[0].1 else { panic!("{:?}", d.selections[0]) };
        assert_eq!(fields[0].field, "eventName");
        assert_eq!(fields[0].modifiers, [Modifier::Op(Op::StartsWith)]);
        // A float is the text written, not the number it parses to.
        assert_eq!(fields[1].values, [Some("1.50".to_string())]);
        let Selection::AnyOf(maps) = &d.selections[1].1 else { panic!() };
        assert_eq!(maps[1][0].values, [None]);
        let Selection::Keywords(words) = &d.selections[2].1 else { panic!() };
        assert_eq!(words, &["AssumeRoot", "42"]);
    }

    #[test]
    fn a_bad_detection_says_which_selection_and_why() {
        // The modifier's own reason, from a map inside a list.
        let e = detection("s:\n  - eventName|sounds_like: x\ncondition: s\n").unwrap_err();
        assert_eq!(e, "s: the modifier `sounds_like` is not compiled");
        let e = detection("s:\n  eventName:\n    nested: map\ncondition: s\n").unwrap_err();
        assert_eq!(e, "s: a value that is neither text nor a number");
        let e = detection("s: {}\ncondition: s\n").unwrap_err();
        assert_eq!(e, "s: an empty selection");
        let e = detection("s:\n  - eventName: x\n  - keyword\ncondition: s\n").unwrap_err();
        assert_eq!(e, "s: a list of both maps and keywords");
        // `re|i`: the flag is a flag only after `re`.
        let d = detection("s:\n  userAgent|re|i: '^aws'\ncondition: s\n").unwrap();
        let Selection::AllOf(f) = &d.selections[0].1 else { panic!() };
        assert_eq!(f[0].modifiers, [Modifier::Op(Op::Re), Modifier::ReFlag('i')]);
    }

    #[test]
    fn a_rule_of_another_log_source_is_named_not_refused() {
        // Modifiers trailflow does not compile in a Windows rule: not read, only named.
        let docs = YamlLoader::load_from_str(
            "title: w\nname: win_rule\nlogsource:\n  product: windows\ndetection:\n  s:\n    CommandLine|wide|base64offset: \
             x\n  condition: s\n",
        )
        .unwrap();
        match parse_doc(Path::new("w.yml"), &docs[0]) {
            Ok(Parsed::Foreign { key }) => assert_eq!(key.as_deref(), Some("win_rule")),
            _ => panic!("a Windows rule is foreign"),
        }
        let docs = YamlLoader::load_from_str("- just\n- a list\n").unwrap();
        assert!(matches!(parse_doc(Path::new("l.yml"), &docs[0]), Ok(Parsed::Foreign { key: None })));
    }
}
