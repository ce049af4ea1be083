use serde::{Deserialize, Deserializer};

/// One optional field of a sync payload. The ERP decides per field: leaving it out keeps the
/// stored value, sending `null` clears it, sending a value sets it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    pub fn map<U>(&self, f: impl FnOnce(&T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }

    pub fn map_into<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Patch::Absent)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only called when the key is present (fields carry `#[serde(default)]`), so a
        // missing value here means an explicit JSON `null`.
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Null,
            Some(value) => Patch::Value(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        notes: Patch<String>,
    }

    fn probe(json: &str) -> Patch<String> {
        serde_json::from_str::<Probe>(json).unwrap().notes
    }

    #[test]
    fn absent_null_and_value_are_told_apart() {
        assert_eq!(probe("{}"), Patch::Absent);
        assert_eq!(probe(r#"{"notes": null}"#), Patch::Null);
        assert_eq!(probe(r#"{"notes": "x"}"#), Patch::Value("x".into()));
    }
}
