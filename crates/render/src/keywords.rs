//! Keywords a search user expects without the author typing them: orientation, size class
//! and the dominant colours, computed from pixels.

/// Automatic keywords for an image of `width × height` (as displayed) whose pixels are
/// summarised by `sample` (packed RGB, e.g. the thumbnail).
pub fn auto_keywords(width: u32, height: u32, sample: &[u8]) -> Vec<String> {
    let mut keywords = vec![
        orientation(width, height).to_string(),
        size_class(width, height).to_string(),
    ];
    keywords.extend(dominant_colours(sample).into_iter().map(str::to_string));
    keywords
}

pub fn orientation(width: u32, height: u32) -> &'static str {
    let (w, h) = (u64::from(width), u64::from(height));
    if w * 10 > h * 11 {
        "landscape"
    } else if h * 10 > w * 11 {
        "portrait"
    } else {
        "square"
    }
}

/// By megapixels, roughly as stock sites sell sizes.
pub fn size_class(width: u32, height: u32) -> &'static str {
    match u64::from(width) * u64::from(height) {
        0..2_000_000 => "small",
        2_000_000..8_000_000 => "medium",
        8_000_000..25_000_000 => "large",
        _ => "xlarge",
    }
}

const COLOURS: [&str; 12] = [
    "red",
    "orange",
    "yellow",
    "green",
    "turquoise",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
];

/// At most this many pixels are classified: a share estimated from 65,536 evenly spread
/// pixels is within about half a percentage point of the true share, far finer than the 12%
/// threshold, and classifying every pixel of a 1000 px preview cost ~5% of a render.
const COLOUR_SAMPLES: usize = 1 << 16;

/// Colour names covering at least 12% of the pixels, most common first (at most three).
pub fn dominant_colours(rgb: &[u8]) -> Vec<&'static str> {
    let mut counts = [0u32; COLOURS.len()];
    let mut total = 0u32;
    let step = (rgb.len() / 3).div_ceil(COLOUR_SAMPLES).max(1);
    for pixel in rgb.chunks_exact(3).step_by(step) {
        counts[colour_index(pixel[0], pixel[1], pixel[2])] += 1;
        total += 1;
    }
    if total == 0 {
        return Vec::new();
    }
    let mut ranked: Vec<(u32, usize)> = counts.iter().copied().zip(0..).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(3)
        .filter(|&(count, _)| u64::from(count) * 100 >= u64::from(total) * 12)
        .map(|(_, index)| COLOURS[index])
        .collect()
}

/// The named colour of one pixel, by hue, saturation and value.
fn colour_index(r: u8, g: u8, b: u8) -> usize {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let value = max / 255.0;
    let saturation = if max == 0.0 { 0.0 } else { (max - min) / max };
    if value < 0.18 {
        return 9; // black
    }
    if saturation < 0.18 {
        return if value > 0.85 { 10 } else { 11 }; // white, gray
    }
    let hue = {
        let delta = max - min;
        let h = if max == r {
            ((g - b) / delta).rem_euclid(6.0)
        } else if max == g {
            (b - r) / delta + 2.0
        } else {
            (r - g) / delta + 4.0
        };
        h * 60.0
    };
    match hue {
        h if !(15.0..345.0).contains(&h) => {
            if value > 0.7 && saturation < 0.5 {
                7
            } else {
                0
            } // pink or red
        }
        h if h < 40.0 => {
            if value < 0.6 { 8 } else { 1 } // brown or orange
        }
        h if h < 70.0 => 2,
        h if h < 160.0 => 3,
        h if h < 195.0 => 4,
        h if h < 260.0 => 5,
        h if h < 300.0 => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_and_size_classes() {
        assert_eq!(orientation(6000, 4000), "landscape");
        assert_eq!(orientation(4000, 6000), "portrait");
        assert_eq!(orientation(1000, 1050), "square");
        assert_eq!(size_class(1600, 1200), "small");
        assert_eq!(size_class(2560, 1600), "medium");
        assert_eq!(size_class(6000, 4000), "large");
        assert_eq!(size_class(11_648, 8_736), "xlarge");
    }

    #[test]
    fn colours_are_named_as_people_name_them() {
        let pixels = |r, g, b, n| {
            std::iter::repeat_n([r, g, b], n)
                .flatten()
                .collect::<Vec<u8>>()
        };
        let sky_and_grass = [pixels(60, 120, 220, 60), pixels(40, 160, 40, 40)].concat();
        assert_eq!(dominant_colours(&sky_and_grass), vec!["blue", "green"]);
        assert_eq!(dominant_colours(&pixels(250, 220, 30, 10)), vec!["yellow"]);
        assert_eq!(dominant_colours(&pixels(240, 120, 20, 10)), vec!["orange"]);
        assert_eq!(dominant_colours(&pixels(5, 5, 5, 10)), vec!["black"]);
        assert_eq!(dominant_colours(&pixels(250, 250, 250, 10)), vec!["white"]);
        assert!(dominant_colours(&[]).is_empty());
    }
}
