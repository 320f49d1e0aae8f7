//! Keyword vocabulary: real stock-photo words at the frequent ranks, then pronounceable
//! made-up words, so a large vocabulary still tokenises and stems like text.

use crate::zipf::Rng;

/// Common stock keywords, roughly most frequent first.
pub const ENGLISH: [&str; 160] = [
    "nature",
    "background",
    "people",
    "business",
    "landscape",
    "sky",
    "water",
    "city",
    "woman",
    "man",
    "summer",
    "travel",
    "beautiful",
    "blue",
    "green",
    "white",
    "food",
    "outdoors",
    "tree",
    "sea",
    "sunset",
    "beach",
    "flower",
    "light",
    "portrait",
    "color",
    "architecture",
    "building",
    "winter",
    "snow",
    "mountain",
    "forest",
    "autumn",
    "spring",
    "abstract",
    "texture",
    "pattern",
    "wood",
    "stone",
    "red",
    "yellow",
    "orange",
    "black",
    "happy",
    "young",
    "family",
    "child",
    "girl",
    "boy",
    "team",
    "office",
    "technology",
    "computer",
    "phone",
    "work",
    "meeting",
    "success",
    "finance",
    "money",
    "health",
    "medical",
    "doctor",
    "fitness",
    "sport",
    "running",
    "yoga",
    "lifestyle",
    "fashion",
    "beauty",
    "hair",
    "smile",
    "love",
    "couple",
    "wedding",
    "holiday",
    "christmas",
    "party",
    "celebration",
    "night",
    "street",
    "road",
    "car",
    "transport",
    "train",
    "airplane",
    "river",
    "lake",
    "ocean",
    "wave",
    "sand",
    "desert",
    "field",
    "grass",
    "leaf",
    "plant",
    "garden",
    "animal",
    "dog",
    "cat",
    "bird",
    "horse",
    "insect",
    "butterfly",
    "fish",
    "wildlife",
    "farm",
    "agriculture",
    "cooking",
    "kitchen",
    "breakfast",
    "coffee",
    "fruit",
    "vegetable",
    "bread",
    "wine",
    "drink",
    "restaurant",
    "vintage",
    "retro",
    "modern",
    "old",
    "new",
    "design",
    "art",
    "paint",
    "music",
    "education",
    "school",
    "student",
    "book",
    "science",
    "industry",
    "factory",
    "construction",
    "energy",
    "environment",
    "sun",
    "cloud",
    "rain",
    "storm",
    "fog",
    "morning",
    "evening",
    "macro",
    "closeup",
    "aerial",
    "panorama",
    "silhouette",
    "reflection",
    "shadow",
    "bokeh",
    "minimal",
    "copy space",
    "concept",
    "isolated",
    "studio",
    "horizontal",
    "vertical",
    "detail",
    "scenic",
];

/// German keywords, for records in German (inflected forms included, for stemming).
pub const GERMAN: [&str; 40] = [
    "natur",
    "landschaft",
    "himmel",
    "wasser",
    "stadt",
    "frau",
    "mann",
    "sommer",
    "reise",
    "blume",
    "blumen",
    "baum",
    "bäume",
    "wald",
    "berg",
    "berge",
    "see",
    "meer",
    "strand",
    "sonne",
    "sonnenuntergang",
    "winter",
    "schnee",
    "herbst",
    "frühling",
    "garten",
    "familie",
    "kinder",
    "kind",
    "arbeit",
    "büro",
    "essen",
    "kaffee",
    "hund",
    "katze",
    "vogel",
    "vögel",
    "straße",
    "haus",
    "häuser",
];

const ONSETS: [&str; 20] = [
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kl", "st", "tr",
    "gr", "pl",
];
const VOWELS: [&str; 7] = ["a", "e", "i", "o", "u", "ai", "ou"];
const CODAS: [&str; 8] = ["", "n", "r", "s", "l", "m", "nd", "st"];

/// A pronounceable made-up word of 2–3 syllables.
fn made_up(rng: &mut Rng) -> String {
    let syllables = 2 + rng.below(2);
    let mut word = String::new();
    for _ in 0..syllables {
        word.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
        word.push_str(VOWELS[rng.below(VOWELS.len() as u64) as usize]);
    }
    word.push_str(CODAS[rng.below(CODAS.len() as u64) as usize]);
    word
}

/// `size` distinct words: the real ones first, then made-up ones.
pub fn build(size: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x0b5e55ed);
    let mut words: Vec<String> = ENGLISH.iter().map(|word| (*word).to_string()).collect();
    let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
    while words.len() < size {
        let word = made_up(&mut rng);
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// A made-up person's name, for authors.
pub fn person(rng: &mut Rng) -> String {
    let name = |rng: &mut Rng| {
        let mut word = made_up(rng);
        if let Some(first) = word.get(..1) {
            word.replace_range(..1, &first.to_uppercase());
        }
        word
    };
    format!("{} {}", name(rng), name(rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_distinct_and_starts_with_real_words() {
        let words = build(20_000, 3);
        assert_eq!(words.len(), 20_000);
        assert_eq!(words[0], "nature");
        let mut unique = words.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), words.len());
    }
}
