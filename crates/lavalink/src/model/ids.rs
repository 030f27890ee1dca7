//! Discord snowflakes as Lavalink carries them (decimal strings), without depending on Discord types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Discord guild id. On the wire it is a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuildId(pub u64);

/// A guild id that is not a decimal snowflake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guild id {0:?} is not a decimal snowflake")]
pub struct InvalidGuildId(pub String);

impl fmt::Display for GuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for GuildId {
    type Err = InvalidGuildId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(GuildId)
            .map_err(|_| InvalidGuildId(s.to_owned()))
    }
}

impl From<u64> for GuildId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl Serialize for GuildId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GuildId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GuildId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a guild id as a decimal string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GuildId, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<GuildId, E> {
                Ok(GuildId(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
