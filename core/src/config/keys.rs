//! Unknown configuration keys are refused at load, naming the key, where it came from and the nearest valid
//! key: a typo (`allow_private_target`) must never fall back silently to a default.

use figment::value::{Dict, Value};

/// An unknown key: its full name as the user wrote it and the nearest valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The key as written.
    pub key: String,
    /// The known key nearest to it, as a suggestion.
    pub nearest: String,
}

/// How a key path is written in one source: `limits.max_image_bytes` in a file,
/// `MEDIAMILL_LIMITS__MAX_IMAGE_BYTES` in the environment.
#[derive(Debug, Clone, Copy)]
pub enum Spelling {
    /// As in the configuration file: `limits.max_image_bytes`.
    File,
    /// As an environment variable: `MEDIAMILL_LIMITS__MAX_IMAGE_BYTES`.
    Env,
}

impl Spelling {
    fn render(self, path: &[String]) -> String {
        match self {
            Spelling::File => path.join("."),
            Spelling::Env => format!("MEDIAMILL_{}", path.join("__").to_ascii_uppercase()),
        }
    }
}

/// The first key of `given` that `known` (the defaults, serialized) does not have.
pub fn first_unknown(known: &Dict, given: &Dict, spelling: Spelling) -> Option<Unknown> {
    walk(known, given, &mut Vec::new(), spelling)
}

fn walk(known: &Dict, given: &Dict, path: &mut Vec<String>, spelling: Spelling) -> Option<Unknown> {
    for (k, v) in given {
        path.push(k.clone());
        let found = match known.get(k) {
            None => {
                let nearest = nearest(known, k).map(|n| {
                    let mut p = path.clone();
                    p.pop();
                    p.push(n);
                    spelling.render(&p)
                });
                Some(Unknown { key: spelling.render(path), nearest: nearest.unwrap_or_default() })
            }
            Some(Value::Dict(_, kd)) => match v {
                Value::Dict(_, gd) => walk(kd, gd, path, spelling),
                _ => None, // a wrong type is the deserializer's to report
            },
            // Lists of tables (image.variants, video.renditions): each element against the first default.
            Some(Value::Array(_, ka)) => match (ka.first(), v) {
                (Some(Value::Dict(_, kd)), Value::Array(_, ga)) => ga.iter().enumerate().find_map(|(i, e)| match e {
                    Value::Dict(_, gd) => {
                        path.push(i.to_string());
                        let r = walk(kd, gd, path, spelling);
                        path.pop();
                        r
                    }
                    _ => None,
                }),
                _ => None,
            },
            Some(_) => None,
        };
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn nearest(known: &Dict, key: &str) -> Option<String> {
    known.keys().min_by_key(|k| strsim::levenshtein(k, key)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Serialized, Toml};
    use figment::Provider;

    fn dict_of(p: impl Provider) -> Dict {
        p.data().unwrap().into_values().next().unwrap_or_default()
    }

    fn known() -> Dict {
        dict_of(Serialized::defaults(crate::config::Config::default()))
    }

    #[test]
    fn a_typo_is_named_with_the_nearest_key() {
        let given = dict_of(Toml::string("[notify]\nallow_private_target = true\n"));
        let u = first_unknown(&known(), &given, Spelling::File).unwrap();
        assert_eq!(
            u,
            Unknown { key: "notify.allow_private_target".into(), nearest: "notify.allow_private_targets".into() }
        );
        let given = dict_of(Toml::string("[limts]\nmax_image_bytes = 5\n"));
        assert_eq!(first_unknown(&known(), &given, Spelling::File).unwrap().nearest, "limits");
    }

    #[test]
    fn elements_of_lists_of_tables_are_checked() {
        let given = dict_of(Toml::string(
            "[[image.variants]]\nname = \"a\"\nlong_edge = 5\nformats = [\"jpeg\"]\nqualty = 3\n",
        ));
        let u = first_unknown(&known(), &given, Spelling::File).unwrap();
        assert_eq!((u.key.as_str(), u.nearest.as_str()), ("image.variants.0.qualty", "image.variants.0.quality"));
    }

    #[test]
    fn every_valid_key_passes() {
        let all = known();
        assert_eq!(first_unknown(&all, &all, Spelling::File), None);
    }

    #[test]
    fn env_keys_are_spelled_as_variables() {
        let given = dict_of(Toml::string("[kafka]\nbroker = \"x\"\n"));
        let u = first_unknown(&known(), &given, Spelling::Env).unwrap();
        assert_eq!((u.key.as_str(), u.nearest.as_str()), ("MEDIAMILL_KAFKA__BROKER", "MEDIAMILL_KAFKA__BROKERS"));
    }
}
