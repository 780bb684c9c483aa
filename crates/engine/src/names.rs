//! Random container names in Docker's `adjective_surname` style, from berth's own word lists.

use rand::seq::SliceRandom;

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring",
    "eager", "early", "fair", "fast", "fierce", "gentle", "glad", "golden", "grand", "happy",
    "hardy", "keen", "kind", "lively", "lucid", "merry", "mighty", "modest", "nimble", "noble",
    "patient", "polite", "proud", "quick", "quiet", "rapid", "ready", "robust", "serene", "sharp",
    "silent", "smooth", "snappy", "solid", "spry", "steady", "sturdy", "swift", "tidy", "vivid",
];

/// Harbour and sea words, fitting a container engine named after a berth.
const NOUNS: &[&str] = &[
    "anchor",
    "ballast",
    "beacon",
    "bollard",
    "bosun",
    "bow",
    "breakwater",
    "buoy",
    "cable",
    "capstan",
    "cargo",
    "channel",
    "compass",
    "crane",
    "current",
    "deck",
    "dock",
    "ferry",
    "fjord",
    "galley",
    "gangway",
    "harbor",
    "hawser",
    "helm",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "lagoon",
    "lantern",
    "lighthouse",
    "mast",
    "mooring",
    "pier",
    "pilot",
    "port",
    "quay",
    "rudder",
    "sail",
    "schooner",
    "sextant",
    "slipway",
    "starboard",
    "stern",
    "tide",
    "tugboat",
    "wake",
    "wharf",
];

/// A random `adjective_noun`; `attempt > 0` appends a digit as Docker does after collisions.
pub fn random_name(attempt: u32) -> String {
    let mut rng = rand::thread_rng();
    let a = ADJECTIVES.choose(&mut rng).copied().unwrap_or("quiet");
    let n = NOUNS.choose(&mut rng).copied().unwrap_or("harbor");
    if attempt == 0 {
        format!("{a}_{n}")
    } else {
        format!("{a}_{n}{}", rand::random::<u8>() % 10)
    }
}

/// Docker's rule for user-chosen names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading `/`.
pub fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = random_name(0);
        assert!(valid_name(&n), "{n}");
        assert!(n.contains('_'));
        assert!(valid_name("/web-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
