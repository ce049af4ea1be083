//! Which entity a file holds, told from its name: nightly exports carry dates, systems and
//! suffixes around the entity (`cells_2024-05-01.csv`, `SAP_operations_20240501.ndjson`).

use crate::domain::Entity;

/// An entity by its name, singular or plural, any case (`--entity`, a JSON wrapper's key).
pub fn parse_entity(name: &str) -> Result<Entity, String> {
    let lower = name.to_ascii_lowercase();
    Entity::ALL
        .into_iter()
        .find(|e| e.plural() == lower || e.singular() == lower)
        .ok_or_else(|| {
            format!("unknown entity {name:?}: use cells, resources, jobs, parts or operations")
        })
}

/// The entities a file name's stem names. Words are the runs of letters, so digits, `_`, `-`
/// and `.` all separate them, and a word must be an entity's name whole: `jobs-export` names
/// jobs, `partial` names nothing. An entity named twice counts once.
pub fn entities_in_name(stem: &str) -> Vec<Entity> {
    let mut found = Vec::new();
    for word in stem.split(|c: char| !c.is_alphabetic()) {
        if let Ok(entity) = parse_entity(word) {
            if !found.contains(&entity) {
                found.push(entity);
            }
        }
    }
    found
}

/// The entity a file holds by its name alone, or why the name does not tell. One entity word
/// is needed: a name with two (`parts_and_operations.csv`) could hold either, and guessing
/// would load records under the wrong entity.
pub fn entity_from_name(stem: &str) -> Result<Entity, String> {
    match entities_in_name(stem).as_slice() {
        [entity] => Ok(*entity),
        [] => Err(
            "cannot tell which entity it holds: its name has none of the words cells, \
                   resources, jobs, parts or operations (singular or plural, e.g. \
                   cells_2024-05-01.csv); rename it or pass --entity"
                .to_owned(),
        ),
        several => {
            let names: Vec<&str> = several.iter().map(|e| e.plural()).collect();
            Err(format!(
                "cannot tell which entity it holds: its name has more than one entity word \
                 ({}); pass --entity to say which it holds",
                names.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_named_in_plural_or_singular() {
        assert_eq!(parse_entity("Cells"), Ok(Entity::Cells));
        assert_eq!(parse_entity("operation"), Ok(Entity::Operations));
        assert!(parse_entity("machines").is_err());
    }

    #[test]
    fn one_entity_word_anywhere_in_the_name_tells_the_entity() {
        for (stem, entity) in [
            ("cells", Entity::Cells),
            ("cells_2024-05-01", Entity::Cells),
            ("jobs-export", Entity::Jobs),
            ("SAP_operations_20240501", Entity::Operations),
            ("Resource.nightly", Entity::Resources),
            ("part", Entity::Parts),
            ("jobs_jobs", Entity::Jobs),
        ] {
            assert_eq!(entity_from_name(stem), Ok(entity), "{stem}");
        }
    }

    #[test]
    fn no_entity_word_or_two_of_them_need_the_entity_flag() {
        for stem in ["export", "partial_cellar", "SAPjobs", ""] {
            let error = entity_from_name(stem).unwrap_err();
            assert!(error.contains("none of the words"), "{stem}: {error}");
            assert!(error.contains("--entity"), "{error}");
        }
        let error = entity_from_name("parts_and_operations").unwrap_err();
        assert!(error.contains("(parts, operations)"), "{error}");
        assert!(error.contains("--entity"), "{error}");
    }
}
