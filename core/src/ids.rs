//! Ids of the records, each its own type, so a tenant id cannot be passed where a media id is expected. All are
//! strings on the wire and in the database (UUIDv7 when mediamill makes them: time-ordered, so listings page by
//! id); none dereferences to `&str`, so the compiler catches a swap. `as_str()` is the explicit way out.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered id.
            pub fn generate() -> $name {
                $name(uuid::Uuid::now_v7().to_string())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A tenant's id.
    TenantId
);
id_type!(
    /// A media item's id.
    MediaId
);
id_type!(
    /// A batch's id.
    BatchId
);
id_type!(
    /// A resumable upload's id (tus).
    UploadId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_transparent_strings_and_time_ordered() {
        let a = MediaId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = MediaId::generate();
        assert!(a < b, "later ids sort after earlier ones");
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        let back: MediaId = serde_json::from_str(&format!("\"{a}\"")).unwrap();
        assert_eq!(back, a);
        assert_eq!(TenantId::from("t1"), "t1");
    }
}
