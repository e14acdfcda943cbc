//! Generated object names, as `metadata.generateName` gives them: the base, a dash and five
//! random characters ([`generated_name`]). Since v1.32 the API server draws again when the
//! name is taken (RetryGenerateName); [`GeneratedNames`] does so, never giving a name twice
//! (docs/kubernetes.md#generated-names).

use cascade_engine::Rng;
use std::collections::HashSet;

/// The characters of a generated suffix: apimachinery's `rand.String` alphabet
/// (`k8s.io/apimachinery/pkg/util/rand`, v0.33), without vowels or confusable digits.
pub const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The length of a generated suffix (`names.SimpleNameGenerator`'s `randomLength`, v1.33).
pub const SUFFIX_LENGTH: usize = 5;

/// `{base}-{suffix}`, the suffix drawn from `rng`: one name, taken or not.
pub fn generated_name(rng: &mut Rng, base: &str) -> String {
    let suffix: String = (0..SUFFIX_LENGTH)
        .map(|_| char::from(SUFFIX_ALPHABET[rng.below_index(SUFFIX_ALPHABET.len())]))
        .collect();
    format!("{base}-{suffix}")
}

/// A run's generated names: one seeded stream of suffixes, and the names it has given.
#[derive(Clone, Debug)]
pub struct GeneratedNames {
    rng: Rng,
    /// `namespace/name` of every name given so far.
    given: HashSet<String>,
}

impl GeneratedNames {
    pub fn new(rng: Rng) -> Self {
        GeneratedNames {
            rng,
            given: HashSet::new(),
        }
    }

    /// `{base}-{suffix}` in `namespace`, drawn again while it names one given before. A run
    /// without a collision draws exactly one suffix per name.
    pub fn generate(&mut self, namespace: &str, base: &str) -> String {
        loop {
            let name = generated_name(&mut self.rng, base);
            if self.given.insert(format!("{namespace}/{name}")) {
                return name;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_where_suffixes_collide() {
        // 27^5 (14.3 million) suffixes: 200,000 draws repeat about 1,400 of them (the
        // birthday bound), and each repeat is drawn again.
        let mut g = GeneratedNames::new(Rng::stream(1, "controller-names"));
        let mut seen = HashSet::new();
        for _ in 0..200_000 {
            let n = g.generate("ns", "web");
            assert!(n.starts_with("web-") && n.len() == 4 + SUFFIX_LENGTH);
            assert!(seen.insert(n.clone()), "{n} given twice");
        }
    }

    #[test]
    fn without_a_collision_one_draw_per_name_and_namespaces_apart() {
        // The stream of plain suffixes, before any retry: the names follow it exactly.
        let mut plain = Rng::stream(7, "x");
        let mut g = GeneratedNames::new(Rng::stream(7, "x"));
        for _ in 0..100 {
            assert_eq!(g.generate("a", "web"), generated_name(&mut plain, "web"));
        }
        // Another namespace may hold the same name: the same stream gives it.
        let mut h = GeneratedNames::new(Rng::stream(7, "x"));
        let first = h.generate("a", "web");
        let mut k = GeneratedNames::new(Rng::stream(7, "x"));
        assert_eq!(k.generate("b", "web"), first);
    }
}
