//! Finding the picture inside uniform borders: letterboxing, pillarboxing and the padding
//! a thief adds to defeat a plain PDQ match (20% of padding moves most of PDQ's bits).
//!
//! A side's outermost line of pixels sets the border colour; lines are trimmed while at
//! least 98% of their pixels are within a small tolerance of it (JPEG ringing near the
//! picture's edge is noise, not picture). Trimming repeats until nothing changes, so a
//! padded copy and the original end at the same rectangle even when the original itself
//! has a uniform band (the first round takes the padding, the next the band). No side loses
//! more than 40%, and a trim smaller than 1% of a side is ignored, so a photo's own faint
//! edge does not make it hash differently from a copy without one.

/// A rectangle of pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge, in pixels.
    pub x: usize,
    /// Top edge, in pixels.
    pub y: usize,
    /// Width, in pixels.
    pub width: usize,
    /// Height, in pixels.
    pub height: usize,
}

impl Rect {
    /// The centred rectangle `fraction` as wide and as high.
    pub fn centre(&self, fraction: f64) -> Rect {
        self.window(fraction, 0.5, 0.5)
    }

    /// The rectangle `fraction` as wide and as high, placed `along_x` and `along_y` of the
    /// way across the room left (0 at the left or top edge, 1 at the right or bottom).
    pub fn window(&self, fraction: f64, along_x: f64, along_y: f64) -> Rect {
        if self.width == 0 || self.height == 0 {
            return *self;
        }
        let width = ((self.width as f64 * fraction).round() as usize).clamp(1, self.width);
        let height = ((self.height as f64 * fraction).round() as usize).clamp(1, self.height);
        let offset = |room: usize, along: f64| (room as f64 * along.clamp(0.0, 1.0)) as usize;
        Rect {
            x: self.x + offset(self.width - width, along_x),
            y: self.y + offset(self.height - height, along_y),
            width,
            height,
        }
    }
}

/// Channel difference still counted as border colour.
const TOLERANCE: u8 = 10;
/// Share of a line's pixels that must be border colour, in per mille.
const UNIFORM_PER_MILLE: usize = 980;
/// At most this share of a side is trimmed, in per cent.
const MAX_TRIM_PERCENT: usize = 40;
/// Trims smaller than this share of a side, in per cent, are ignored.
const MIN_TRIM_PERCENT: usize = 1;

/// Where the picture is inside uniform borders, trimmed two ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Content {
    /// Only the outermost uniform border gone (the first round): a padded copy's picture,
    /// with whatever uniform bands the picture itself has at its edges. Trimming further
    /// is where a copy and its original can part: the line where padding and picture were
    /// resampled together stops the copy's band early, or a gradient (a sky) is eaten to a
    /// different depth from a slightly different first line.
    pub outer: Rect,
    /// Every border and band trimmed, round after round.
    pub inner: Rect,
}

/// The picture inside `width × height` packed RGB, without its outermost uniform border and
/// without every uniform border.
pub fn content(rgb: &[u8], width: usize, height: usize) -> Content {
    let mut rect = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    let mut outer = None;
    if rgb.len() < width * height * 3 || width == 0 || height == 0 {
        return Content {
            outer: rect,
            inner: rect,
        };
    }
    let pixel = |x: usize, y: usize| -> [u8; 3] {
        let at = (y * width + x) * 3;
        [rgb[at], rgb[at + 1], rgb[at + 2]]
    };
    for _ in 0..4 {
        let before = rect;
        let max_rows = height * MAX_TRIM_PERCENT / 100;
        let max_cols = width * MAX_TRIM_PERCENT / 100;
        let row = |y: usize, r: &Rect| (r.x..r.x + r.width).map(move |x| pixel(x, y));
        let col = |x: usize, r: &Rect| (r.y..r.y + r.height).map(move |y| pixel(x, y));

        let top = count_uniform(
            (rect.y..rect.y + rect.height).map(|y| row(y, &rect)),
            max_rows,
        );
        let bottom = count_uniform(
            (rect.y..rect.y + rect.height).rev().map(|y| row(y, &rect)),
            max_rows,
        );
        let (top, bottom) = (significant(top, height), significant(bottom, height));
        if top + bottom < rect.height {
            rect.y += top;
            rect.height -= top + bottom;
        }
        let left = count_uniform(
            (rect.x..rect.x + rect.width).map(|x| col(x, &rect)),
            max_cols,
        );
        let right = count_uniform(
            (rect.x..rect.x + rect.width).rev().map(|x| col(x, &rect)),
            max_cols,
        );
        let (left, right) = (significant(left, width), significant(right, width));
        if left + right < rect.width {
            rect.x += left;
            rect.width -= left + right;
        }
        outer.get_or_insert(rect);
        if rect == before {
            break;
        }
    }
    Content {
        outer: outer.unwrap_or(rect),
        inner: rect,
    }
}

fn significant(trim: usize, side: usize) -> usize {
    if trim * 100 < side * MIN_TRIM_PERCENT {
        0
    } else {
        trim
    }
}

/// How many of the leading lines (at most `max`) are uniform in the first line's mean colour.
fn count_uniform<L, P>(lines: L, max: usize) -> usize
where
    L: Iterator<Item = P>,
    P: Iterator<Item = [u8; 3]> + Clone,
{
    let mut lines = lines.peekable();
    let Some(first) = lines.peek().cloned() else {
        return 0;
    };
    let (mut sum, mut n) = ([0u64; 3], 0u64);
    for pixel in first {
        for (s, v) in sum.iter_mut().zip(pixel) {
            *s += u64::from(v);
        }
        n += 1;
    }
    if n == 0 {
        return 0;
    }
    let colour = sum.map(|s| (s / n) as u8);
    lines
        .take(max)
        .take_while(|line| {
            let (mut close, mut total) = (0usize, 0usize);
            for pixel in line.clone() {
                total += 1;
                if pixel
                    .iter()
                    .zip(colour)
                    .all(|(&v, c)| v.abs_diff(c) <= TOLERANCE)
                {
                    close += 1;
                }
            }
            close * 1000 >= total * UNIFORM_PER_MILLE
        })
        .count()
}
